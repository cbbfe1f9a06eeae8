"""PyTorch models exported with torch.onnx.export, and onnxruntime's logits for them.

An MLP and a CNN with BatchNorm (folded into Conv by the exporter, kept after Linear), Dropout and
x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat/Reshape); opsets 11, 13 and 17; a fixed batch; weights in an
external data file; and the CNN through torch.export (dynamo=True, PyTorch's default exporter, opset 20). Writes NAME.onnx (or NAME/model.onnx), input.bin, NAME.expected.bin and manifest.json into OUT.
"""
import json
import os
import logging
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
torch.manual_seed(0)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.Linear(16 * 7 * 7, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))

    def forward(self, x):
        x = self.features(x)
        return self.head(x.view(x.size(0), -1))


def randomize_batch_norm(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


cnn = randomize_batch_norm(CNN())
mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
x = torch.rand(4, 1, 28, 28)
x.numpy().astype(np.float32).tofile(os.path.join(OUT, "input.bin"))
manifest = []


def export(name, model, opset, dynamic=True, external=False, batch=4, dynamo=False):
    path = os.path.join(OUT, name + ".onnx")
    example = x[:batch]
    if dynamo:
        torch.onnx.export(model, (example,), path, dynamo=True, opset_version=opset, input_names=["pixels"], output_names=["logits"],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    else:
        torch.onnx.export(model, (example,), path, dynamo=False, opset_version=opset, input_names=["pixels"],
                          output_names=["logits"], dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None)
    if external:
        directory = os.path.join(OUT, name)
        os.makedirs(directory)
        loaded = onnx.load(path)
        os.remove(path)
        path = os.path.join(directory, "model.onnx")
        onnx.save_model(loaded, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    if dynamic:
        logits = session.run(None, {"pixels": x.numpy()})[0]
    else:  # ORT runs the fixed batch in pieces, as Distillery must
        logits = np.concatenate([session.run(None, {"pixels": x.numpy()[i:i + batch]})[0] for i in range(0, 4, batch)])
    logits.astype(np.float32).tofile(os.path.join(OUT, name + ".expected.bin"))
    with torch.no_grad():
        gap = float(np.abs(model(x).numpy() - logits).max())
    ops = sorted({n.op_type for n in onnx.load(path, load_external_data=False).graph.node})
    manifest.append({"name": name, "path": os.path.relpath(path, OUT), "ops": ops, "torch_vs_ort": gap})


export("cnn_opset17", cnn, 17)
export("cnn_opset11", cnn, 11)
export("mlp_opset13", mlp, 13)
export("cnn_fixed_batch", cnn, 17, dynamic=False, batch=2)
export("cnn_external_data", cnn, 17, external=True)
export("cnn_dynamo", cnn, 20, dynamo=True)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print(json.dumps(manifest))
