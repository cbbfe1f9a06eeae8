#!/usr/bin/env python3
"""Trains a PyTorch CNN teacher on Fashion-MNIST and exports it to ONNX for Distillery.

Reads Debian's IDX files (/usr/share/datasets/fashion-mnist/), scales pixels to [0, 1] as Distillery does, trains
on random shifts of up to 2 pixels (the augmentation the example job distils with; teachers that never saw shifted
images teach badly on them) and writes a model with a dynamic batch dimension:

    python3 cluster/pytorch/train_teacher.py --out runs/teachers/pytorch-cnn.onnx [--epochs 8]

Then name it in a job's teachers, e.g. {name: pytorch, checkpoint: ../../runs/teachers/pytorch-cnn.onnx}.
Needs torch (pip install "torch==2.13.0+cpu") and onnx.
"""
import argparse
import gzip
import os
import time
import warnings

import numpy as np
import torch
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i].tobytes(), "big") for i in range(rank)]
    return raw[4 + 4 * rank:].reshape(dims)


def load(directory, split):
    prefix = "train" if split == "train" else "t10k"
    def find(kind):
        for name in (f"{prefix}-{kind}.gz", f"{prefix}-{kind}"):
            if os.path.exists(os.path.join(directory, name)):
                return os.path.join(directory, name)
        raise SystemExit(f"train_teacher.py: no {prefix}-{kind}[.gz] in {directory}")
    images = torch.tensor(read_idx(find("images-idx3-ubyte")), dtype=torch.float32).unsqueeze(1) / 255
    labels = torch.tensor(read_idx(find("labels-idx1-ubyte")), dtype=torch.long)
    return images, labels


def shift(batch, generator, pixels):
    """Random translation by up to `pixels` in each direction, zeros shifted in."""
    if pixels == 0:
        return batch
    padded = nn.functional.pad(batch, (pixels,) * 4)
    out = torch.empty_like(batch)
    offsets = torch.randint(0, 2 * pixels + 1, (len(batch), 2), generator=generator)
    size = batch.shape[-1]
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy:dy + size, dx:dx + size]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist/")
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--translate", type=int, default=2)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "test")
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    steps = args.epochs * ((len(train_y) + 127) // 128)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for epoch in range(args.epochs):
        started = time.time()
        model.train()
        for batch in torch.randperm(len(train_y), generator=generator).split(128):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(shift(train_x[batch], generator, args.translate)), train_y[batch])
            loss.backward()
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(test_x).argmax(1) == test_y).float().mean())
        print(f"epoch {epoch + 1}/{args.epochs}: test accuracy {accuracy:.4f} ({time.time() - started:.0f} s)", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    temporary = args.out + ".partial"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (test_x[:2],), temporary, dynamo=False, opset_version=args.opset, input_names=["pixels"],
                          output_names=["logits"], dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(temporary, args.out)  # a reader never sees half a model
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
