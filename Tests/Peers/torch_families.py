"""PyTorch twins of Distillery's resnet:, mobilenetv2: and gpt: families, written the way PyTorch code writes them (forward
methods, not Distillery's graph), with the module names Distillery uses, so state dicts load with strict=True.

  check SPEC OURS.safetensors BATCH.safetensors OUT.safetensors
      loads Distillery's checkpoint strictly; with BATCH's x and r (upstream gradient) runs a training forward and
      backward of sum(logits * r), then an evaluation forward and backward; writes the logits, every parameter's
      gradient in both modes and the state after them. For gpt: x holds token ids (as floats) and r is (B, T, vocab).
  train SPEC OUT.safetensors BATCH.safetensors LOGITS.safetensors
      PyTorch's own initialisation, a few SGD steps on random data (running statistics move), saved as a
      Distillery checkpoint (metadata distillery.spec); the evaluation logits on BATCH's x beside it.
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from torch import nn


def options(spec):
    parts = spec.split(":")
    family, shape, fields = (parts[0], None, parts[1]) if parts[0] == "gpt" else parts
    values = {k: int(v) for k, v in (field.split("=") for field in fields.split(","))}
    return family, [int(d) for d in shape.split("x")] if shape else [values["ctx"]], values


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1, self.bn1, self.relu1 = nn.Conv2d(i, o, 3, stride, 1), nn.BatchNorm2d(o), nn.ReLU()
        self.conv2, self.bn2 = nn.Conv2d(o, o, 3, 1, 1), nn.BatchNorm2d(o)
        if stride != 1 or i != o:
            self.shortcut = nn.Sequential(nn.Conv2d(i, o, 1, stride, 0), nn.BatchNorm2d(o))
        else:
            self.shortcut = None
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    def __init__(self, channels, depth, width, classes):
        super().__init__()
        blocks = (depth - 2) // 6
        self.conv1, self.bn1, self.relu = nn.Conv2d(channels, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU()
        widths, i = [width, 2 * width, 4 * width], width
        for stage, o in enumerate(widths):
            layers = []
            for b in range(blocks):
                layers.append(BasicBlock(i, o, 2 if stage > 0 and b == 0 else 1))
                i = o
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layers))
        self.avgpool, self.flatten, self.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))


def conv_bn(i, o, kernel, stride, groups=1, activation=True):
    layers = [nn.Conv2d(i, o, kernel, stride, kernel // 2, groups=groups), nn.BatchNorm2d(o)]
    return nn.Sequential(*(layers + [nn.ReLU6()] if activation else layers))


class InvertedResidual(nn.Module):
    def __init__(self, i, o, stride, expansion):
        super().__init__()
        hidden = i * expansion
        self.expand = conv_bn(i, hidden, 1, 1) if expansion != 1 else None
        self.depthwise = conv_bn(hidden, hidden, 3, stride, groups=hidden)
        self.project = conv_bn(hidden, o, 1, 1, activation=False)
        self.residual = stride == 1 and i == o

    def forward(self, x):
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return y + x if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self, channels, width, expansion, blocks, classes):
        super().__init__()
        self.stem = conv_bn(channels, width, 3, 1)
        layers, i = [], width
        for stage, (o, stride) in enumerate([(width, 1), (2 * width, 2), (4 * width, 2)]):
            for b in range(blocks):
                layers.append(InvertedResidual(i, o, stride if b == 0 else 1, 1 if stage == 0 and b == 0 else expansion))
                i = o
        self.blocks = nn.Sequential(*layers)
        self.avgpool, self.flatten, self.classifier = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(i, classes)

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.blocks(self.stem(x)))))


class CausalSelfAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).split(d, dim=2))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, d))


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc, self.gelu, self.proj = nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d)

    def forward(self, x):
        return self.proj(self.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.attn, self.ln2, self.mlp = nn.LayerNorm(d), CausalSelfAttention(d, heads), nn.LayerNorm(d), MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab, ctx, layers, heads, d, tied):
        super().__init__()
        self.tok_emb, self.pos_emb = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.layers = nn.Sequential(*[Block(d, heads) for _ in range(layers)])
        self.ln_f, self.lm_head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
        if tied:
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, ids):
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1]))
        return self.lm_head(self.ln_f(self.layers(x)))


def build(spec):
    family, shape, o = options(spec)
    classes = o.get("classes", 10)
    if family == "resnet":
        return ResNet(shape[0], o["depth"], o["width"], classes)
    if family == "mobilenetv2":
        return MobileNetV2(shape[0], o["width"], o.get("expansion", 6), o.get("blocks", 2), classes)
    if family == "gpt":
        return GPT(o.get("vocab", 256), o["ctx"], o["layers"], o["heads"], o["d"], o.get("tied", 1) == 1)
    raise SystemExit(f"no PyTorch twin for {spec}")


def inputs(spec, x):
    return x.long() if spec.startswith("gpt:") else x


def gradients(model, x, r, prefix):
    model.zero_grad()
    logits = model(x)
    (logits * r).sum().backward()
    out = {f"{prefix}.logits": logits.detach()}
    out.update({f"{prefix}.grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters()})
    return out


def check(spec, ours, batch, out):
    model = build(spec)
    model.load_state_dict(load_file(ours), strict=True)
    data = load_file(batch)
    model.train()
    x = inputs(spec, data["x"])
    results = gradients(model, x, data["r"], "train")
    model.eval()
    results.update(gradients(model, x, data["r"], "eval"))
    results.update({f"state.{n}": t.detach().clone().float() for n, t in model.state_dict().items()})
    save_file({k: v.contiguous() for k, v in results.items()}, out)


def train(spec, out, batch, logits_out):
    torch.manual_seed(0)
    model = build(spec)
    family, shape, o = options(spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(4):
        optimizer.zero_grad()
        if family == "gpt":
            ids = torch.randint(0, o.get("vocab", 256), (8, shape[0] + 1))
            logits = model(ids[:, :-1])
            nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)).backward()
        else:
            x, y = torch.randn(8, *shape), torch.randint(0, o.get("classes", 10), (8,))
            nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(inputs(spec, load_file(batch)["x"]))
    # Clones: a tied table appears under two names, and safetensors refuses shared storage.
    save_file({k: v.clone().contiguous() for k, v in model.state_dict().items()}, out, metadata={"distillery.spec": spec})
    save_file({"logits": logits}, logits_out)


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"check": check, "train": train}[sys.argv[1]](*sys.argv[2:])
