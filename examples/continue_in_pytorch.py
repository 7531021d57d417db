"""Continue training a wasmgpt export in PyTorch, on one process or many (torchrun).

    npx tsx train.ts export --from out/ --to gpt2-export
    python3 examples/continue_in_pytorch.py --model gpt2-export --tokens train.bin --steps 1000 --out gpt2-continued
    torchrun --nproc_per_node 4 examples/continue_in_pytorch.py --model gpt2-export --tokens train.bin ...

--tokens is a flat file of little-endian uint16 GPT-2 token ids (nanoGPT's train.bin format).
The model is GPT-2 written out here with Hugging Face's parameter names and Conv1D layout, so
it needs only torch and numpy; where transformers is installed,
GPT2LMHeadModel.from_pretrained(DIR) loads the same export. With torchrun each process takes
its own batches and DistributedDataParallel averages the gradients (gloo on CPU, nccl on GPUs).
The result is written in the same layout (model.safetensors + config.json).
"""
import argparse
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {'F32': (np.float32, 4), 'F16': (np.float16, 2), 'BF16': (None, 2), 'I32': (np.int32, 4), 'I64': (np.int64, 8)}


def read_safetensors(path):
    """name -> float32 torch tensor (F32, F16 and BF16 converted)."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        begin, end = e['data_offsets']
        buf = data[begin:end]
        if e['dtype'] == 'BF16':
            arr = (np.frombuffer(buf, dtype='<u2').astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=np.dtype(DTYPES[e['dtype']][0]).newbyteorder('<')).astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(e['shape']).copy())
    return out


def write_safetensors(path, tensors, metadata=None):
    header, chunks, offset = {'__metadata__': metadata or {'format': 'pt'}}, [], 0
    for name, t in tensors.items():
        raw = t.detach().cpu().contiguous().float().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text)
        for raw in chunks:
            f.write(raw)


class GPT2(torch.nn.Module):
    """GPT-2 as transformers' GPT2LMHeadModel computes it: pre-LayerNorm blocks, Conv1D weights
    stored [in, out], tanh GELU, LM head tied to wte. Parameter names are HF's without the
    transformer. prefix."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        C, V, T, L = config['n_embd'], config['vocab_size'], config['n_positions'], config['n_layer']
        H = config.get('n_inner') or 4 * C
        P = torch.nn.Parameter
        self.params = torch.nn.ParameterDict()
        shapes = {'wte.weight': [V, C], 'wpe.weight': [T, C], 'ln_f.weight': [C], 'ln_f.bias': [C]}
        for l in range(L):
            p = f'h.{l}.'
            shapes.update({
                p + 'ln_1.weight': [C], p + 'ln_1.bias': [C], p + 'ln_2.weight': [C], p + 'ln_2.bias': [C],
                p + 'attn.c_attn.weight': [C, 3 * C], p + 'attn.c_attn.bias': [3 * C],
                p + 'attn.c_proj.weight': [C, C], p + 'attn.c_proj.bias': [C],
                p + 'mlp.c_fc.weight': [C, H], p + 'mlp.c_fc.bias': [H],
                p + 'mlp.c_proj.weight': [H, C], p + 'mlp.c_proj.bias': [C],
            })
        # ParameterDict keys may not contain '.'
        self.names = {name: name.replace('.', '__') for name in shapes}
        for name, shape in shapes.items():
            self.params[self.names[name]] = P(torch.zeros(shape))

    def w(self, name):
        return self.params[self.names[name]]

    def load_hf(self, tensors):
        """From HF tensors (with or without the transformer. prefix; attn.bias buffers and the tied lm_head ignored)."""
        got = {}
        for name, t in tensors.items():
            name = name[len('transformer.'):] if name.startswith('transformer.') else name
            if name.endswith('.attn.bias') or name.endswith('.attn.masked_bias') or name == 'lm_head.weight':
                continue
            got[name] = t
        missing = set(self.names) - set(got)
        unexpected = set(got) - set(self.names)
        if missing or unexpected:
            raise ValueError(f'missing {sorted(missing)}, unexpected {sorted(unexpected)}')
        with torch.no_grad():
            for name, t in got.items():
                self.w(name).copy_(t)

    def hf_state(self):
        return {'transformer.' + name: self.w(name) for name in self.names}

    def forward(self, ids, targets=None):
        c = self.config
        B, T = ids.shape
        C, nh = c['n_embd'], c['n_head']
        eps = c.get('layer_norm_epsilon', 1e-5)
        x = self.w('wte.weight')[ids] + self.w('wpe.weight')[:T]
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        for l in range(c['n_layer']):
            p = f'h.{l}.'
            h = F.layer_norm(x, (C,), self.w(p + 'ln_1.weight'), self.w(p + 'ln_1.bias'), eps)
            q, k, v = (h @ self.w(p + 'attn.c_attn.weight') + self.w(p + 'attn.c_attn.bias')).split(C, dim=-1)
            q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))
            att = (q @ k.transpose(-1, -2)) / math.sqrt(C // nh)
            a = att.masked_fill(causal, float('-inf')).softmax(-1) @ v
            a = a.transpose(1, 2).reshape(B, T, C)
            x = x + a @ self.w(p + 'attn.c_proj.weight') + self.w(p + 'attn.c_proj.bias')
            h = F.layer_norm(x, (C,), self.w(p + 'ln_2.weight'), self.w(p + 'ln_2.bias'), eps)
            m = F.gelu(h @ self.w(p + 'mlp.c_fc.weight') + self.w(p + 'mlp.c_fc.bias'), approximate='tanh')
            x = x + m @ self.w(p + 'mlp.c_proj.weight') + self.w(p + 'mlp.c_proj.bias')
        x = F.layer_norm(x, (C,), self.w('ln_f.weight'), self.w('ln_f.bias'), eps)
        logits = x @ self.w('wte.weight').t()
        loss = None if targets is None else F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss


def load_model(directory):
    with open(os.path.join(directory, 'config.json')) as f:
        config = json.load(f)
    model = GPT2(config)
    model.load_hf(read_safetensors(os.path.join(directory, 'model.safetensors')))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help='directory with model.safetensors and config.json (train.ts export)')
    ap.add_argument('--tokens', required=True, help='uint16 GPT-2 token ids, little-endian (nanoGPT train.bin)')
    ap.add_argument('--out', help='write the trained model here (model.safetensors + config.json)')
    ap.add_argument('--steps', type=int, default=100)
    ap.add_argument('--batch-size', type=int, default=4)
    ap.add_argument('--block-size', type=int, default=None, help='default: the model\'s n_positions')
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--seed', type=int, default=1337)
    args = ap.parse_args()

    distributed = 'WORLD_SIZE' in os.environ and int(os.environ['WORLD_SIZE']) > 1
    rank, world = 0, 1
    if distributed:
        torch.distributed.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    device = f'cuda:{rank % torch.cuda.device_count()}' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(args.seed + rank)

    model = load_model(args.model).to(device)
    T = args.block_size or model.config['n_positions']
    tokens = np.fromfile(args.tokens, dtype='<u2').astype(np.int64)
    if len(tokens) <= T:
        raise SystemExit(f'{args.tokens}: {len(tokens)} tokens, need more than --block-size {T}')
    trainable = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': rest, 'weight_decay': 0.0}], lr=args.lr, betas=(0.9, 0.99))
    gen = np.random.default_rng(args.seed + rank)
    for step in range(args.steps):
        starts = gen.integers(0, len(tokens) - T - 1, args.batch_size)
        x = torch.from_numpy(np.stack([tokens[s:s + T] for s in starts])).to(device)
        y = torch.from_numpy(np.stack([tokens[s + 1:s + T + 1] for s in starts])).to(device)
        _, loss = trainable(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if rank == 0:
            print(f'step {step} | loss {loss.item():.4f}', flush=True)
    if rank == 0 and args.out:
        os.makedirs(args.out, exist_ok=True)
        write_safetensors(os.path.join(args.out, 'model.safetensors'), model.hf_state())
        with open(os.path.join(args.out, 'config.json'), 'w') as f:
            json.dump(dict(model.config, n_positions=model.config['n_positions']), f, indent=2)
    if distributed:
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
