#!/usr/bin/env python3
"""Moves trained weights between Emotion3D checkpoints (HDF5) and PyTorch.

  verify       --checkpoint C.h5 --input X.h5 --expected Y.h5 [--train-mode]
               builds the PyTorch model from the checkpoint's architecture JSON, loads its
               state_dict through h5py, runs it on X's `input` and compares with Y's `output`
               (max |a-b| / max |b| <= 1e-4); exit 0 when they agree.
  export       --checkpoint C.h5 --output model.pt       PyTorch state_dict from a checkpoint
  import       --state-dict model.pt --architecture A.json --output C.h5   checkpoint from a state_dict
  make-fixture --output-dir Fixtures/interop             a random PyTorch model imported as a checkpoint,
               with an input and PyTorch's outputs, for the Swift test of the import direction

Needs torch and h5py (Tools/install_reference_tools.sh).
"""
import argparse
import collections
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn


def build(architecture):
    """The nn.Module an architecture JSON describes, with Emotion3D's parameter paths."""
    channels, frames, height, width = architecture["input"]
    probe = torch.zeros(2, channels, frames, height, width)

    def make(spec, x):
        kind = spec["type"]
        if kind == "conv3d":
            module = nn.Conv3d(x.shape[1], spec["filters"], tuple(spec["kernel"]), stride=tuple(spec.get("stride", [1, 1, 1])),
                               padding=tuple(spec.get("padding", [0, 0, 0])), bias=spec.get("bias", True))
        elif kind == "batchnorm3d":
            module = nn.BatchNorm3d(x.shape[1], eps=spec.get("epsilon", 1e-5), momentum=spec.get("momentum", 0.1))
        elif kind == "relu":
            module = nn.ReLU()
        elif kind == "elu":
            module = nn.ELU(alpha=spec.get("alpha", 1.0))
        elif kind == "leaky_relu":
            module = nn.LeakyReLU(spec.get("slope", 0.01))
        elif kind == "prelu":
            module = nn.PReLU(init=spec.get("initial", 0.25))
        elif kind == "mish":
            module = nn.Mish()
        elif kind in ("maxpool3d", "avgpool3d"):
            kernel = tuple(spec["kernel"])
            stride = tuple(spec.get("stride", spec["kernel"]))
            padding = tuple(spec.get("padding", [0, 0, 0]))
            module = nn.MaxPool3d(kernel, stride, padding) if kind == "maxpool3d" else nn.AvgPool3d(kernel, stride, padding)
        elif kind == "flatten":
            module = nn.Flatten()
        elif kind == "dense":
            module = nn.Linear(spec.get("input_features", x.shape[1]), spec["units"], bias=spec.get("bias", True))
        elif kind == "dropout":
            module = nn.Dropout(spec["p"])
        elif kind == "sequential":
            children = collections.OrderedDict()
            for index, child in enumerate(spec["layers"]):
                module_child, x = make(child, x)
                children[child.get("name", str(index))] = module_child
            return nn.Sequential(children), x
        else:
            raise SystemExit(f"unknown layer type {kind!r}")
        module.eval()
        with torch.no_grad():
            return module, module(x)

    model, _ = make({"type": "sequential", "layers": architecture["layers"]}, probe)
    return model


def load_checkpoint(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "emotion3d-checkpoint":
            raise SystemExit(f"{path}: not an Emotion3D checkpoint")
        architecture = json.loads(f.attrs["architecture"])
        state = {k: torch.from_numpy(np.array(v)) for k, v in f["state_dict"].items()}
    model = build(architecture).double()
    expected = model.state_dict()
    for key, value in expected.items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
    model.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return architecture, model


def write_checkpoint(path, architecture, state_dict, metadata):
    temporary = path + ".tmp"
    with h5py.File(temporary, "w") as f:
        f.attrs["format"] = "emotion3d-checkpoint"
        f.attrs["format_version"] = np.array([1], dtype=np.int64)
        f.attrs["architecture"] = json.dumps(architecture, sort_keys=True, indent=2)
        f.attrs["class_names"] = json.dumps([])
        f.attrs["metadata"] = json.dumps(metadata)
        for key, value in state_dict.items():
            if key.endswith("num_batches_tracked"):
                continue
            f[f"state_dict/{key}"] = value.detach().cpu().numpy().astype(np.float32)
    os.replace(temporary, path)


def relative_error(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def verify(args):
    _, model = load_checkpoint(args.checkpoint)
    with h5py.File(args.input, "r") as f:
        x = torch.from_numpy(np.array(f["input"], dtype=np.float64))
    with h5py.File(args.expected, "r") as f:
        expected = np.array(f["output"], dtype=np.float64)
    model.train(args.train_mode)
    with torch.no_grad():
        output = model(x).numpy()
    error = relative_error(output, expected)
    print(f"PyTorch vs Emotion3D: max relative error {error:.3g} over {output.size} outputs")
    return 0 if error <= 1e-4 else 1


def export(args):
    _, model = load_checkpoint(args.checkpoint)
    torch.save({k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}, args.output)
    print(f"wrote {args.output}")
    return 0


def import_state_dict(args):
    with open(args.architecture) as f:
        architecture = json.load(f)
    state = torch.load(args.state_dict, map_location="cpu")
    model = build(architecture)
    model.load_state_dict(state, strict=True)  # names and shapes must match the architecture
    write_checkpoint(args.output, architecture, model.state_dict(), {"source": os.path.basename(args.state_dict)})
    print(f"wrote {args.output}")
    return 0


def make_fixture(args):
    """A small architecture of the paper's family, random PyTorch weights (including running
    statistics), imported as a checkpoint, with an input and PyTorch's inference outputs."""
    torch.manual_seed(7)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "Fixtures", "interop", "architecture.json")) as f:
        architecture = json.load(f)
    model = build(architecture)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                tensor.uniform_(-0.2, 0.2)
    os.makedirs(args.output_dir, exist_ok=True)
    pt = os.path.join(args.output_dir, "torch-model.pt")
    torch.save(model.state_dict(), pt)
    checkpoint = os.path.join(args.output_dir, "torch-import.h5")
    import_state_dict(argparse.Namespace(architecture=os.path.join(here, "..", "Fixtures", "interop", "architecture.json"),
                                         state_dict=pt, output=checkpoint))
    os.remove(pt)
    model = model.double().eval()
    x = torch.rand(2, *architecture["input"], dtype=torch.float32).double()
    with torch.no_grad():
        y = model(x)
    with h5py.File(os.path.join(args.output_dir, "torch-import-io.h5"), "w") as f:
        f["input"] = x.numpy().astype(np.float32)
        f["output"] = y.numpy().astype(np.float32)
        f.attrs["torch"] = str(torch.__version__)
    print(f"wrote {args.output_dir}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--expected", required=True)
    p.add_argument("--train-mode", action="store_true")
    p = sub.add_parser("export")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--output", required=True)
    p = sub.add_parser("import")
    p.add_argument("--state-dict", required=True)
    p.add_argument("--architecture", required=True)
    p.add_argument("--output", required=True)
    p = sub.add_parser("make-fixture")
    p.add_argument("--output-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "interop"))
    args = parser.parse_args()
    return {"verify": verify, "export": export, "import": import_state_dict, "make-fixture": make_fixture}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
