"""A GPT-2 of the bench configs in plain PyTorch, timed the way bench/step.ts times ours:
forward + backward + global-norm clip + AdamW on random token ids, median step time
after warm-up. Prints one JSON line: {"config", "threads", "tok_per_s", "ms_per_step"}.
Configs as bench/configs.ts (no biases, tied LM head).
    python3 bench/pytorch_gpt.py --config S|M|L --threads N [--steps 10] [--warmup 3]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "S": dict(vocab=65, layers=4, heads=4, embd=128, block=64, batch=12),
    "M": dict(vocab=65, layers=6, heads=6, embd=384, block=256, batch=8),
    "L": dict(vocab=50257, layers=12, heads=12, embd=768, block=64, batch=4),
}


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["embd"]
        self.heads = c["heads"]
        self.ln_1 = nn.LayerNorm(e, elementwise_affine=True)
        self.qkv = nn.Linear(e, 3 * e, bias=False)
        self.proj = nn.Linear(e, e, bias=False)
        self.ln_2 = nn.LayerNorm(e, elementwise_affine=True)
        self.fc = nn.Linear(e, 4 * e, bias=False)
        self.out = nn.Linear(4 * e, e, bias=False)

    def attention(self, x):
        b, t, e = x.shape
        q, k, v = self.qkv(x).split(e, dim=2)
        shape = (b, t, self.heads, e // self.heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(e // self.heads)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        att = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, e))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.out(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab"], c["embd"])
        self.wpe = nn.Embedding(c["block"], c["embd"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.ln_f = nn.LayerNorm(c["embd"])
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, targets):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=CONFIGS, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    c = CONFIGS[a.config]
    model = GPT(c)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    times = []
    for step in range(a.warmup + a.steps):
        ids = torch.randint(c["vocab"], (c["batch"], c["block"]))
        targets = torch.randint(c["vocab"], (c["batch"], c["block"]))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model(ids, targets).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1000
    print(json.dumps({"config": a.config, "threads": a.threads, "tok_per_s": c["batch"] * c["block"] * 1000 / ms, "ms_per_step": ms}))


if __name__ == "__main__":
    main()
