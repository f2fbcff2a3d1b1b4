#!/usr/bin/env python3
"""Writes Fixtures/reference/torch-layers.h5: PyTorch reference outputs and gradients for every
layer of the Emotion3D DSL and for small networks of the paper's family in training mode; and
Fixtures/reference/torch-optimizers.h5: parameters after 20 steps of PyTorch's optimizers (and of
Lookahead around Adam) on given gradients.

Layout (format_version 1):
  /                      attrs: format_version, generator, torch, h5py, numpy
  /cases/<name>          attrs: spec (JSON: the layer or network and its options), mode
      input              the layer input (all datasets are float32; references are computed in float64)
      params/<path>      parameters and states before the run, under PyTorch state_dict names
      upstream           random upstream gradient u of the output (layers); the loss is sum(output * u)
      labels, class_weights   (networks and the loss case)
      output             output computed in float64 from the float32 inputs
      loss               (networks and the loss case)
      grad_input         d loss / d input
      grads/<path>       d loss / d parameter
      states_after/<path> running statistics after the training-mode run

Run: python3 Tools/make_fixtures.py  (after Tools/install_reference_tools.sh)
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_VERSION = 1
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "reference")
rng = np.random.default_rng(20201124)


def f32(shape, low=-1.0, high=1.0):
    """Random values representable in float32, as float64 tensors."""
    return torch.tensor(rng.uniform(low, high, size=shape).astype(np.float32).astype(np.float64))


def away_from_zero(shape, margin=0.1):
    magnitude = rng.uniform(margin, 1.0, size=shape)
    sign = np.where(rng.integers(0, 2, size=shape) == 0, 1.0, -1.0)
    return torch.tensor((magnitude * sign).astype(np.float32).astype(np.float64))


def distinct(shape):
    count = int(np.prod(shape))
    values = (np.arange(count) * 0.05 - count * 0.025).astype(np.float32)
    rng.shuffle(values)
    return torch.tensor(values.reshape(shape).astype(np.float64))


def randomize(module):
    """Replaces every parameter and buffer with float32-representable random values."""
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                tensor.copy_(f32(tuple(tensor.shape), 0.5, 1.5))
            elif name.endswith(".weight") and tensor.dim() == 1 and tensor.numel() > 1:  # BatchNorm gamma
                tensor.copy_(f32(tuple(tensor.shape), 0.5, 1.5))
            else:
                tensor.copy_(f32(tuple(tensor.shape), -0.5, 0.5))


def state_before(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


def put(group, key, value):
    value = np.asarray(value, dtype=np.float32)  # computed in float64; float32 keeps 7 digits, ample for 1e-4 checks
    if value.ndim == 0:
        group[key] = value
    else:
        group.create_dataset(key, data=value, compression="gzip", compression_opts=9, shuffle=True)


def write_case(group, name, spec, mode, x, module, before, output, upstream=None, labels=None, class_weights=None, loss=None):
    case = group.create_group(name)
    case.attrs["spec"] = json.dumps(spec)
    case.attrs["mode"] = mode
    put(case, "input", x.detach().numpy())
    for key, value in before.items():
        put(case, f"params/{key}", value.numpy())
    put(case, "output", output.detach().numpy())
    if upstream is not None:
        put(case, "upstream", upstream.numpy())
    if labels is not None:
        put(case, "labels", labels.numpy().astype(np.float64))
    if class_weights is not None:
        put(case, "class_weights", class_weights.numpy())
    if loss is not None:
        put(case, "loss", loss.detach().numpy())
    put(case, "grad_input", x.grad.numpy())
    for key, parameter in module.named_parameters():
        put(case, f"grads/{key}", parameter.grad.numpy())
    if mode == "training":
        for key, value in module.state_dict().items():
            if "running" in key:
                put(case, f"states_after/{key}", value.numpy())


def layer_case(group, name, spec, module, x, mode="training"):
    module = module.double()
    randomize(module)
    before = state_before(module)
    module.train(mode == "training")
    x = x.clone().requires_grad_(True)
    y = module(x)
    upstream = f32(tuple(y.shape))
    (y * upstream).sum().backward()
    write_case(group, name, spec, mode, x, module, before, y, upstream=upstream)


def layer_cases(group):
    layer_case(group, "conv3d_k3_p1", {"layer": "conv3d", "filters": 4, "kernel": [3, 3, 3], "stride": [1, 1, 1], "padding": [1, 1, 1], "bias": True},
               nn.Conv3d(3, 4, 3, padding=1), f32((2, 3, 4, 6, 5)))
    layer_case(group, "conv3d_t5_s122", {"layer": "conv3d", "filters": 3, "kernel": [5, 3, 3], "stride": [1, 2, 2], "padding": [2, 1, 1], "bias": True},
               nn.Conv3d(2, 3, (5, 3, 3), stride=(1, 2, 2), padding=(2, 1, 1)), f32((1, 2, 6, 7, 7)))
    layer_case(group, "conv3d_t1_nobias", {"layer": "conv3d", "filters": 2, "kernel": [1, 3, 3], "stride": [1, 1, 1], "padding": [0, 1, 1], "bias": False},
               nn.Conv3d(3, 2, (1, 3, 3), padding=(0, 1, 1), bias=False), f32((2, 3, 3, 4, 4)))
    layer_case(group, "batchnorm_training", {"layer": "batchnorm3d"}, nn.BatchNorm3d(4), f32((3, 4, 2, 3, 3)))
    layer_case(group, "batchnorm_inference", {"layer": "batchnorm3d"}, nn.BatchNorm3d(4), f32((3, 4, 2, 3, 3)), mode="inference")
    layer_case(group, "relu", {"layer": "relu"}, nn.ReLU(), away_from_zero((2, 3, 2, 3, 4)))
    layer_case(group, "elu", {"layer": "elu"}, nn.ELU(), away_from_zero((2, 3, 2, 3, 4)))
    layer_case(group, "leaky_relu", {"layer": "leaky_relu"}, nn.LeakyReLU(), away_from_zero((2, 3, 2, 3, 4)))
    layer_case(group, "mish", {"layer": "mish"}, nn.Mish(), f32((2, 3, 2, 3, 4), -4, 4))
    layer_case(group, "prelu", {"layer": "prelu"}, nn.PReLU(), away_from_zero((2, 3, 2, 3, 4)))
    layer_case(group, "maxpool_222", {"layer": "maxpool3d", "kernel": [2, 2, 2], "stride": [2, 2, 2], "padding": [0, 0, 0]},
               nn.MaxPool3d(2), distinct((2, 3, 4, 6, 5)))
    layer_case(group, "maxpool_last", {"layer": "maxpool3d", "kernel": [1, 2, 2], "stride": [2, 2, 2], "padding": [0, 1, 1]},
               nn.MaxPool3d((1, 2, 2), stride=2, padding=(0, 1, 1)), distinct((2, 3, 1, 7, 7)))
    layer_case(group, "avgpool_222", {"layer": "avgpool3d", "kernel": [2, 2, 2], "stride": [2, 2, 2], "padding": [0, 0, 0]},
               nn.AvgPool3d(2), f32((2, 3, 4, 6, 5)))
    layer_case(group, "avgpool_last", {"layer": "avgpool3d", "kernel": [1, 2, 2], "stride": [2, 2, 2], "padding": [0, 1, 1]},
               nn.AvgPool3d((1, 2, 2), stride=2, padding=(0, 1, 1)), f32((2, 3, 1, 7, 7)))
    layer_case(group, "dense", {"layer": "dense", "units": 5}, nn.Linear(10, 5), f32((3, 10)))
    layer_case(group, "flatten", {"layer": "flatten"}, nn.Flatten(), f32((2, 3, 1, 2, 2)))


def loss_case(group):
    logits = f32((6, 7), -3, 3).requires_grad_(True)
    labels = torch.tensor(rng.integers(0, 7, size=6))
    weights = f32((7,), 0.2, 2.0)
    loss = F.cross_entropy(logits, labels, weight=weights)
    loss.backward()
    case = group.create_group("cross_entropy_weighted")
    case.attrs["spec"] = json.dumps({"layer": "cross_entropy", "class_weights": True})
    case.attrs["mode"] = "training"
    put(case, "input", logits.detach().numpy())
    put(case, "labels", labels.numpy().astype(np.float64))
    put(case, "class_weights", weights.numpy())
    put(case, "loss", loss.detach().numpy())
    put(case, "output", loss.detach().numpy())
    put(case, "grad_input", logits.grad.numpy())


ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "prelu": nn.PReLU, "leaky_relu": nn.LeakyReLU, "mish": nn.Mish}


class PaperNet(nn.Module):
    """The paper's family at a small size, with the module layout Emotion3D's paths assume."""

    def __init__(self, spec):
        super().__init__()
        act, t, div = ACTIVATIONS[spec["activation"]], spec["temporalKernel"], spec["widthDivisor"]
        pool = nn.AvgPool3d if spec["pooling"] == "avg" else nn.MaxPool3d
        groups = [[64, 64] if spec["secondConvInFirstGroups"] else [64], [128, 128] if spec["secondConvInFirstGroups"] else [128],
                  [256, 256], [512, 512], [512, 512]]
        pools = [((1, 2, 2), (1, 2, 2), 0), (2, 2, 0), (2, 2, 0), (2, 2, 0), ((1, 2, 2), 2, (0, 1, 1))]
        layers, channels = [], spec["channels"]
        for filters, (kernel, stride, padding) in zip(groups, pools):
            for count in filters:
                count = max(1, count // div)
                layers += [nn.Conv3d(channels, count, (t, 3, 3), padding=((t - 1) // 2, 1, 1)), nn.BatchNorm3d(count), act()]
                channels = count
            layers.append(pool(kernel, stride=stride, padding=padding))
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            self.features.eval()
            features = self.features(torch.zeros(1, spec["channels"], spec["frames"], spec["height"], spec["width"])).numel()
        hidden, p = spec["hiddenUnits"], spec["dropout"]
        self.classifier = nn.Sequential(nn.Linear(features, hidden), act(), nn.Dropout(p), nn.Linear(hidden, hidden), act(), nn.Dropout(p),
                                        nn.Linear(hidden, spec["classes"]))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def network_case(group, name, spec, batch, class_weights):
    model = PaperNet(spec).double()
    randomize(model)
    before = state_before(model)
    model.train()
    x = f32((batch, spec["channels"], spec["frames"], spec["height"], spec["width"]), 0, 1).requires_grad_(True)
    labels = torch.tensor(rng.integers(0, spec["classes"], size=batch))
    weights = f32((spec["classes"],), 0.2, 2.0) if class_weights else None
    logits = model(x)
    loss = F.cross_entropy(logits, labels, weight=weights)
    loss.backward()
    write_case(group, name, {"network": spec}, "training", x, model, before, logits, labels=labels, class_weights=weights, loss=loss)


class Lookahead:
    """Lookahead (Zhang et al. 2019) around an inner optimizer: every k steps the slow weights move
    alpha toward the fast ones and the fast weights are reset to them. Written from the paper."""

    def __init__(self, inner, k=5, alpha=0.5):
        self.inner, self.k, self.alpha, self.steps = inner, k, alpha, 0
        self.slow = [p.detach().clone() for group in inner.param_groups for p in group["params"]]

    def step(self):
        self.inner.step()
        self.steps += 1
        if self.steps % self.k == 0:
            params = [p for group in self.inner.param_groups for p in group["params"]]
            with torch.no_grad():
                for fast, slow in zip(params, self.slow):
                    slow += self.alpha * (fast - slow)
                    fast.copy_(slow)


OPTIMIZERS = {
    "adam": ({"kind": "adam", "lr": 1e-3}, lambda ps: torch.optim.Adam(ps, lr=1e-3)),
    "adam_weight_decay": ({"kind": "adam", "lr": 1e-3, "weight_decay": 0.01}, lambda ps: torch.optim.Adam(ps, lr=1e-3, weight_decay=0.01)),
    "adam_paper_lr": ({"kind": "adam", "lr": 1e-4}, lambda ps: torch.optim.Adam(ps, lr=1e-4)),
    "lookahead_adam": ({"kind": "lookahead_adam", "lr": 1e-3, "k": 5, "alpha": 0.5},
                       lambda ps: Lookahead(torch.optim.Adam(ps, lr=1e-3), k=5, alpha=0.5)),
    "sgd": ({"kind": "sgd", "lr": 0.05}, lambda ps: torch.optim.SGD(ps, lr=0.05)),
    "sgd_momentum": ({"kind": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4},
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-4)),
    "sgd_nesterov": ({"kind": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True)),
}


def optimizer_file():
    """Writes torch-optimizers.h5: per optimizer, two float32 parameters, 20 gradients each, and the
    parameters after 20 steps of the PyTorch optimizer (in float32, as Emotion3D runs)."""
    path = os.path.join(ROOT, "torch-optimizers.h5")
    temporary = path + ".tmp"
    shapes = {"a": (4, 3), "b": (5,)}
    with h5py.File(temporary, "w") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["generator"] = "Tools/make_fixtures.py"
        f.attrs["torch"] = str(torch.__version__)
        f.attrs["steps"] = 20
        for name, (spec, make) in OPTIMIZERS.items():
            case = f.create_group(f"cases/{name}")
            case.attrs["spec"] = json.dumps(spec)
            params = {k: torch.tensor(rng.uniform(-1, 1, size=s).astype(np.float32), requires_grad=True) for k, s in shapes.items()}
            for k, p in params.items():
                case[f"initial/{k}"] = p.detach().numpy()
            optimizer = make(list(params.values()))
            for step in range(20):
                for k, p in params.items():
                    g = rng.normal(0, 1, size=shapes[k]).astype(np.float32)
                    case[f"gradients/{step}/{k}"] = g
                    p.grad = torch.tensor(g)
                optimizer.step()
            for k, p in params.items():
                case[f"final/{k}"] = p.detach().numpy()
    os.replace(temporary, path)
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def main():
    os.makedirs(ROOT, exist_ok=True)
    path = os.path.join(ROOT, "torch-layers.h5")
    temporary = path + ".tmp"
    torch.manual_seed(0)
    with h5py.File(temporary, "w") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["generator"] = "Tools/make_fixtures.py"
        f.attrs["torch"] = str(torch.__version__)
        f.attrs["h5py"] = h5py.__version__
        f.attrs["numpy"] = np.__version__
        cases = f.create_group("cases")
        layer_cases(cases)
        loss_case(cases)
        base = {"channels": 3, "frames": 10, "height": 32, "width": 32, "classes": 7, "widthDivisor": 32, "hiddenUnits": 16,
                "dropout": 0.0, "temporalKernel": 3, "secondConvInFirstGroups": False}
        network_case(cases, "network_relu_max", dict(base, activation="relu", pooling="max"), 3, False)
        network_case(cases, "network_prelu_avg_weighted", dict(base, activation="prelu", pooling="avg", temporalKernel=5,
                                                               secondConvInFirstGroups=True), 2, True)
        network_case(cases, "network_mish_elu_t1", dict(base, activation="mish", pooling="max", temporalKernel=1), 2, False)
    os.replace(temporary, path)
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")
    optimizer_file()


if __name__ == "__main__":
    sys.exit(main())
