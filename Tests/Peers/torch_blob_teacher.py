"""Trains a small PyTorch CNN on an IDX data set (pixels / 255, as Distillery reads them) and exports it to ONNX.

Set DATA (directory of the four IDX files) and OUT (the .onnx path) before running.
"""
import warnings

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore")
torch.manual_seed(0)


def idx(path):
    raw = np.fromfile(path, dtype=np.uint8)
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i].tobytes(), "big") for i in range(rank)]
    return raw[4 + 4 * rank:].reshape(dims)


images = torch.tensor(idx(DATA + "/train-images-idx3-ubyte"), dtype=torch.float32).unsqueeze(1) / 255
labels = torch.tensor(idx(DATA + "/train-labels-idx1-ubyte"), dtype=torch.long)
side = images.shape[-1]
classes = int(labels.max()) + 1
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(8 * (side // 2) ** 2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, classes))
optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
for epoch in range(EPOCHS):
    for batch in torch.randperm(len(labels)).split(64):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
        optimizer.step()
model.eval()
torch.onnx.export(model, (images[:2],), OUT, dynamo=False, opset_version=17, input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
with torch.no_grad():
    print(float((model(images).argmax(1) == labels).float().mean()))
