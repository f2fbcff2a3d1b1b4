#!/usr/bin/env bash
# Installs the Python reference frameworks (PyTorch CPU, h5py) that regenerate Fixtures/.
# PyTorch's CPU wheel comes from pip's configured find-links folder when the machine has one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 -m pip install -q -r "$here/requirements-reference.txt"
