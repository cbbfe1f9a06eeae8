"""PyTorch side of Benchmarks/infer_vs_torch.sh: a Distillery fp32 checkpoint rebuilt in torch (same layers, same
weights), timed in fp32 and after torch's dynamic int8 quantization (quantize_dynamic: int8 Linear layers,
activations quantized on the fly), as `distillery bench infer` times ours.

Prints {"fp32": samples/s, "dynamic_int8": samples/s} (medians of --repeats rounds of at least --seconds each).
"""
import argparse
import warnings
import json
import re
import struct
import time

import torch
from torch import nn


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", f"{name}: only dense fp32 checkpoints, got {info['dtype']}"
        begin, end = info["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(info["shape"])
    return meta, tensors


def build(spec):
    """The layer list Distillery's Sequential builds for a spec, so state-dict names match."""
    if spec.startswith("mlp:"):
        parts = spec[4:].split(":")
        dims = [int(d) for d in parts[0].split("-")]
        layers = [nn.Flatten()]
        for a, b in zip(dims[:-2], dims[1:-1]):
            layers += [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if "bn" in parts[1:] else []) + [nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(dims[-2], dims[-1])), (dims[0],)
    shape_text, body = spec[4:].split(":", 1)
    c, h, w = (int(v) for v in shape_text.split("x"))
    layers, flat = [], False
    tokens = body.split("-")
    for token in tokens[:-1]:
        if token.startswith("c"):
            m = re.fullmatch(r"c(\d+)(?:k(\d+))?(?:p(\d+))?(?:s(\d+))?(bn)?", token)
            out, k = int(m[1]), int(m[2] or 3)
            pad, stride = int(m[3]) if m[3] else k // 2, int(m[4] or 1)
            layers += [nn.Conv2d(c, out, k, stride, pad)] + ([nn.BatchNorm2d(out)] if m[5] else []) + [nn.ReLU()]
            c, h, w = out, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        elif token.startswith("p"):
            k = int(token[1:] or 2)
            layers.append(nn.MaxPool2d(k))
            h, w = h // k, w // k
        elif token.startswith("d"):
            layers.append(nn.Dropout(float(token[1:])))
        elif token.startswith("f"):
            bn = token.endswith("bn")
            n = int(token[1:-2] if bn else token[1:])
            if not flat:
                layers.append(nn.Flatten())
                flat, c = True, c * h * w
            layers += [nn.Linear(c, n)] + ([nn.BatchNorm1d(n)] if bn else []) + [nn.ReLU()]
            c = n
    if not flat:
        layers.append(nn.Flatten())
        c = c * h * w
    layers.append(nn.Linear(c, int(tokens[-1])))
    return nn.Sequential(*layers), tuple(int(v) for v in shape_text.split("x"))


def rate(model, x, seconds):
    start, passes = time.perf_counter(), 0
    while True:
        model(x)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return passes * x.shape[0] / elapsed


def main():
    warnings.filterwarnings("ignore")  # torch.ao.quantization deprecation notices
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seconds", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    meta, tensors = read_safetensors(a.model)
    model, shape = build(meta["distillery.spec"])
    model.load_state_dict(tensors)
    model.eval()
    dynamic = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    x = torch.rand(a.batch_size, *shape)
    results = {}
    with torch.inference_mode():
        for name, m in (("fp32", model), ("dynamic_int8", dynamic)):
            m(x)
            rates = sorted(rate(m, x, a.seconds) for _ in range(a.repeats))
            results[name] = rates[len(rates) // 2]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
