#!/usr/bin/env bash
# Installs the peers Tools/bench_reference.py compares with: PyTorch (CPU) and ONNX Runtime (+ onnx,
# which torch.onnx.export needs). Not part of Tools/setup: the tests do not need ONNX Runtime.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 -c "import torch, h5py" 2>/dev/null || bash "$here/install_reference_tools.sh"
python3 -m pip install -q -r "$here/requirements-bench.txt"
