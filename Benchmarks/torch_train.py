"""PyTorch twin of `distillery bench train`: same model, batch, optimizer and timing scheme.

Prints {"samples_per_second": ...} (median of --repeats blocks of --steps steps after --warmup steps).
MLP specs (mlp:IN-H...-OUT), the named CNNs and the resnet:/mobilenetv2:/gpt: families (their PyTorch twins in
Tests/Peers/torch_families.py, which the test suite checks name for name and logit for logit) are translated.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn


def build(spec: str) -> nn.Module:
    if spec.startswith("mlp:"):
        dims = [int(d) for d in spec[4:].split(":")[0].split("-")]
        layers = [nn.Flatten()]
        for a, b in zip(dims[:-2], dims[1:-1]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-2], dims[-1]))
        return nn.Sequential(*layers), (dims[0],)
    if spec == "cnn-small":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10)), (1, 28, 28)
    if spec.startswith(("resnet:", "mobilenetv2:", "gpt:")):
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "Peers"))
        import torch_families
        _, shape, _ = torch_families.options(spec)
        return torch_families.build(spec), tuple(shape)
    raise SystemExit(f"torch_train.py cannot translate spec {spec!r}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model, shape = build(a.model)
    if a.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    language_model = a.model.startswith("gpt:")
    if language_model:
        # Token ids in, a next-token loss at every position: (batch, T, vocab) scores as (batch * T) rows.
        vocab = model.lm_head.weight.shape[0]
        x = torch.randint(0, vocab, (a.batch_size, *shape))
        y = torch.randint(0, vocab, (a.batch_size * shape[0],))
    else:
        x = torch.rand(a.batch_size, *shape)
        y = torch.randint(0, 10, (a.batch_size,))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss_fn(logits.reshape(-1, logits.shape[-1]) if language_model else logits, y).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    rates = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        rates.append(a.steps * a.batch_size / (time.perf_counter() - start))
    rates.sort()
    print(json.dumps({"samples_per_second": rates[len(rates) // 2], "runs": rates, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
