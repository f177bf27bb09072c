#!/usr/bin/env python3
"""PyTorch eager's side of tools/gpu_check.sh's training-step bench.

The reference Transformer of `tensorpar train` (core/nn/transformer.h) in PyTorch: token and
position embeddings, pre-norm blocks (LayerNorm, causal attention with bias-free wq/wk/wv/wo,
LayerNorm, Linear(dim, 4 dim) + exact GELU + Linear(4 dim, dim)), a final LayerNorm and an
output projection tied to the token embedding; cross-entropy on next-token targets, Adam
(lr 1e-2, PyTorch's defaults otherwise). float32 with TF32 off, as tensorpar's default.

    python3 tools/gpu_check_torch.py --layers 4 --dim 2048 --heads 16 --vocab 8192 \
        --seq 512 --batch 8 --steps 20 --json

prints tokens/s over every step (as tensorpar's report counts them) and over the steps after
the warm-up ones, and, with --profile, the share of a step's wall time spent in GPU kernels.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim, eps=1e-5)
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-5)
        self.w1 = nn.Linear(dim, 4 * dim)
        self.w2 = nn.Linear(4 * dim, dim)
        self.dropout = dropout

    def attention(self, x):
        b, s, d = x.shape
        split = lambda t: t.view(b, s, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.wq(x)), split(self.wk(x)), split(self.wv(x))
        p = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return F.dropout(self.wo(a.transpose(1, 2).reshape(b, s, d)), p, self.training)

    def forward(self, x):
        h = x + self.attention(self.attention_norm(x))
        p = self.dropout if self.training else 0.0
        return h + F.dropout(self.w2(F.gelu(self.w1(self.ffn_norm(h)))), p, self.training)


class Transformer(nn.Module):
    def __init__(self, layers, dim, heads, vocab, seq, dropout):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.pos_embeddings = nn.Embedding(seq, dim)
        self.layers = nn.ModuleList(Block(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.output = nn.Linear(dim, vocab, bias=False)
        self.output.weight = self.tok_embeddings.weight
        self.dropout = dropout

    def forward(self, tokens):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        h = self.tok_embeddings(tokens) + self.pos_embeddings(positions)
        h = F.dropout(h, self.dropout, self.training)
        for layer in self.layers:
            h = layer(h)
        return self.output(self.norm(h)).float()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("layers", 4), ("dim", 2048), ("heads", 16), ("vocab", 8192),
                          ("seq", 512), ("batch", 8), ("steps", 20), ("warmup", 3)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--profile", action="store_true", help="also measure the kernels' share")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device("cuda")
    dtype = torch.float32 if a.dtype == "f32" else torch.bfloat16
    model = Transformer(a.layers, a.dim, a.heads, a.vocab, a.seq, a.dropout).to(dev, dtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    tokens = torch.randint(0, a.vocab, (a.batch, a.seq + 1), device=dev)
    inputs, targets = tokens[:, :-1], tokens[:, 1:].reshape(-1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs).view(-1, a.vocab), targets)
        loss.backward()
        opt.step()
        return loss

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    times = []
    for _ in range(a.steps):
        s0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - s0)
    total = time.perf_counter() - t0
    tokens_per_step = a.batch * a.seq
    steady = times[a.warmup:] if len(times) > a.warmup else times
    out = {
        "framework": "pytorch-eager", "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0), "dtype": a.dtype,
        "model": {"layers": a.layers, "dim": a.dim, "heads": a.heads, "vocab": a.vocab,
                  "seq": a.seq, "batch": a.batch},
        "steps": a.steps, "last_loss": float(loss),
        "tokens_per_s_all_steps": tokens_per_step * a.steps / total,
        "tokens_per_s_after_warmup": tokens_per_step * len(steady) / sum(steady),
        "step_ms_after_warmup": 1e3 * sum(steady) / len(steady),
        "params": sum(p.numel() for p in model.parameters()),
    }
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            w0 = time.perf_counter()
            for _ in range(3):
                step()
            torch.cuda.synchronize()
            wall = time.perf_counter() - w0
        try:
            kernel_us = sum(e.self_device_time_total for e in prof.key_averages()
                            if e.device_type == torch.autograd.DeviceType.CUDA)
            out["kernel_share_of_step"] = kernel_us / 1e6 / wall
        except AttributeError as e:  # the profiler's field names differ between releases
            out["kernel_share_error"] = str(e)
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
