"""DiT / DiT-skip and Latte / Latte-skip in PyTorch with the official module structure and state_dict names,
loaded from safetensors.

The benchmark anchor for skipdit: bench/torch/export_onnx.py exports it to ONNX for ONNX Runtime, and a GPU
benchmark can run it eagerly. Importing this module has no side effects.

    import torch, dit_skip
    model = dit_skip.load('model.safetensors', device='cuda', dtype=torch.bfloat16)
    out = model(x, t, y)   # x (B, C, H, W), t (B,) float, y (B,) int64 -> (B, 2C or C, H, W)
                           # Latte: x (B, F, C, H, W) -> (B, F, 2C or C, H, W)

Math (checked against the fixture test/fixtures/dit-skip-tiny, written by the official code):
- tokens = Conv2d(k=s=p)(x) flattened + pos_embed (read from the file, not recomputed);
- c = MLP(SiLU)(timestep features: cos then sin of t * 10000^(-i/128), i < 128) + label embedding;
- each block: adaLN-Zero with LayerNorm(eps 1e-6, no affine), timm-style attention and GELU(tanh) MLP;
- Skip-DiT: block i >= depth/2 first does h = skip_linears[j](skip_norms[j](cat([h, skips.pop()], -1))),
  j = i - depth/2, where skips holds the outputs of blocks 0..depth/2-1 (plain DiT has no skip_* tensors);
- final layer: adaLN (shift, scale) on LayerNorm, Linear to p*p*Cout, unpatchify to (B, Cout, H, W).

Latte-skip (checked against test/fixtures/latte-skip-tiny): the frames are a batch of images ((b f), T, D); blocks
come in pairs, spatial blocks[i] over the T tokens of a frame, temporal blocks[i+1] over the F frames of a token
((b t), F, D), temp_embed added once after the first spatial block; conditioning rows repeated per frame
(spatial) and per token (temporal); the skips are pushed after pairs i < depth/2 and popped before pairs
i >= depth/2 by skip module (i - depth/2) / 2 (the official code hard-codes depth/2 = 14).

Config: the JSON in the file's __metadata__.config (skipdit / fixture field names), with anything missing
taken from the tensor shapes; num_heads falls back to the official size table.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['DiTSkip', 'LatteSkip', 'load', 'read_safetensors', 'config_from', 'HEADS_BY_HIDDEN_SIZE']

HEADS_BY_HIDDEN_SIZE = {384: 6, 768: 12, 1024: 16, 1152: 16}  # DiT-S, B, L, XL


# ------------------------------------------------------------------------------------------ safetensors
def _header(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def read_safetensors(path, names=None):
    """Yields (name, CPU tensor) one at a time from a memory map, so peak memory is one tensor.

    F32, F16 and BF16 become float32 (BF16 is widened by a 16-bit shift: numpy has no bfloat16); I64 stays int64."""
    header, base = _header(path)
    body = np.memmap(path, dtype=np.uint8, mode='r', offset=base)
    for name, e in header.items():
        if name == '__metadata__' or (names is not None and name not in names):
            continue
        begin, end = e['data_offsets']
        raw = body[begin:end]
        if e['dtype'] == 'F32':
            a = raw.view(np.float32)
        elif e['dtype'] == 'F16':
            a = raw.view(np.float16).astype(np.float32)
        elif e['dtype'] == 'BF16':
            a = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif e['dtype'] == 'I64':
            a = raw.view(np.int64)
        else:
            raise ValueError(f'{path}: tensor {name} has dtype {e["dtype"]}; expected F32, F16, BF16 or I64')
        yield name, torch.from_numpy(np.array(a).reshape(e['shape']))


def config_from(path):
    """The model config of a safetensors file: metadata JSON first, tensor shapes for the rest."""
    header, _ = _header(path)
    shapes = {k: v['shape'] for k, v in header.items() if k != '__metadata__'}
    meta = json.loads(header.get('__metadata__', {}).get('config', '{}'))
    latte = 'temp_embed' in shapes or meta.get('family') == 'latte'
    D, C, p, _ = shapes['x_embedder.proj.weight']
    table = shapes.get('y_embedder.embedding_table.weight')
    c = {
        'hidden_size': D, 'in_channels': C, 'patch_size': p,
        'input_size': round(math.sqrt(shapes['pos_embed'][1])) * p,
        'depth': 1 + max(int(k.split('.')[1]) for k in shapes if k.startswith('blocks.')),
        'mlp_ratio': shapes['blocks.0.mlp.fc1.weight'][0] / D,
        'num_classes': table[0] - 1 if table else 0,  # the last row is the CFG null class
        'learn_sigma': shapes['final_layer.linear.weight'][0] == p * p * 2 * C,
        'skip': 'skip_linears.0.linear.weight' in shapes,
        'family': 'latte' if latte else 'dit',
    }
    if latte:
        c['num_frames'] = shapes['temp_embed'][1]
    c.update({k: v for k, v in meta.items() if k in c or k == 'num_heads'})
    c.setdefault('num_heads', HEADS_BY_HIDDEN_SIZE.get(D))
    if c['num_heads'] is None:
        raise ValueError(f'{path}: hidden size {D} is not an official size; put num_heads in __metadata__.config')
    return c


# ------------------------------------------------------------------------------------------ modules
def modulate(x, shift, scale):
    # x (B, T, D); shift, scale (B, D)
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Attention(nn.Module):
    """timm's Attention (qkv, proj). Uses the fused scaled_dot_product_attention where torch has it (2.x)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.fused = hasattr(F, 'scaled_dot_product_attention')

    def forward(self, x):
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, N, hd)
        if self.fused:
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = ((q * (D // self.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v
        return self.proj(o.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class DiTBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x, c):
        # x (B, T, D), c (B, D)
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate1.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_channels, dim):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, T, D)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim, freq_dim=256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t):
        # t (B,) -> (B, 256) features, computed in float32 like the official code, then (B, D)
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t.float()[:, None] * freqs[None]
        feats = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        return self.mlp(feats.to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, dim):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, dim)  # + the null class for CFG

    def forward(self, y):
        return self.embedding_table(y)  # eval mode: no label dropout


class SkipLinear(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(2 * dim, dim)

    def forward(self, x):
        return self.linear(x)


class FinalLayer(nn.Module):
    def __init__(self, dim, patch, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))  # (B, T, p*p*Cout)


class DiTSkip(nn.Module):
    """DiT (config skip=False) or DiT-skip (skip=True) for class-conditional (num_classes > 0) or
    unconditional (num_classes = 0: y is ignored) generation."""

    def __init__(self, config):
        super().__init__()
        c = self.config = dict(config)
        D, p, depth = c['hidden_size'], c['patch_size'], c['depth']
        self.out_channels = c['in_channels'] * (2 if c['learn_sigma'] else 1)
        self.grid = c['input_size'] // p
        self.x_embedder = PatchEmbed(p, c['in_channels'], D)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(c['num_classes'], D) if c['num_classes'] > 0 else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid, D), requires_grad=False)
        self.blocks = nn.ModuleList([DiTBlock(D, c['num_heads'], c['mlp_ratio']) for _ in range(depth)])
        if c['skip']:
            self.skip_norms = nn.ModuleList([nn.LayerNorm(2 * D, eps=1e-6) for _ in range(depth // 2)])
            self.skip_linears = nn.ModuleList([SkipLinear(D) for _ in range(depth // 2)])
        self.final_layer = FinalLayer(D, p, self.out_channels)

    def forward(self, x, t, y=None):
        # x (B, C, H, W), t (B,), y (B,) int64 -> (B, Cout, H, W)
        x = x.to(self.pos_embed.dtype)
        h = self.x_embedder(x) + self.pos_embed  # (B, T, D)
        c = self.t_embedder(t)  # (B, D)
        if self.y_embedder is not None:
            c = c + self.y_embedder(y)
        half, skips = len(self.blocks) // 2, []
        for i, block in enumerate(self.blocks):
            if self.config['skip'] and i >= half:
                j = i - half  # block L-1-i' consumes the output of block i' = depth-1-i
                h = self.skip_linears[j](self.skip_norms[j](torch.cat([h, skips.pop()], dim=-1)))
            h = block(h, c)
            if self.config['skip'] and i < half:
                skips.append(h)
        return self.unpatchify(self.final_layer(h, c))

    def unpatchify(self, tokens):
        # (B, G*G, p*p*Cout) -> (B, Cout, G*p, G*p), the official einsum order
        B, G, p, C = tokens.shape[0], self.grid, self.config['patch_size'], self.out_channels
        x = tokens.reshape(B, G, G, p, p, C)
        return torch.einsum('nhwpqc->nchpwq', x).reshape(B, C, G * p, G * p)


class LatteSkip(DiTSkip):
    """Latte (skip=False) or Latte-skip (skip=True): DiTSkip's modules plus temp_embed, with depth/4 skip
    modules (one per pair of the first half)."""

    def __init__(self, config):
        super().__init__(config)
        c, D = self.config, config['hidden_size']
        self.temp_embed = nn.Parameter(torch.zeros(1, c['num_frames'], D), requires_grad=False)
        if c['skip']:
            self.skip_norms = nn.ModuleList([nn.LayerNorm(2 * D, eps=1e-6) for _ in range(c['depth'] // 4)])
            self.skip_linears = nn.ModuleList([SkipLinear(D) for _ in range(c['depth'] // 4)])

    def forward(self, x, t, y=None):
        # x (B, F, C, H, W), t (B,), y (B,) int64 -> (B, F, Cout, H, W)
        B, F_, C, H, W = x.shape
        x = x.to(self.pos_embed.dtype).reshape(B * F_, C, H, W)
        h = self.x_embedder(x) + self.pos_embed  # ((b f), T, D)
        T, D = h.shape[1], h.shape[2]
        c = self.t_embedder(t)
        if self.y_embedder is not None:
            c = c + self.y_embedder(y)
        c_spatial, c_temporal = c.repeat_interleave(F_, 0), c.repeat_interleave(T, 0)  # rows b*F+f, b*T+t
        depth, half, skips = len(self.blocks), len(self.blocks) // 2, []
        for i in range(0, depth, 2):
            if self.config['skip'] and i >= half:
                j = (i - half) // 2
                h = self.skip_linears[j](self.skip_norms[j](torch.cat([h, skips.pop()], dim=-1)))
            h = self.blocks[i](h, c_spatial)
            h = h.reshape(B, F_, T, D).transpose(1, 2).reshape(B * T, F_, D)  # (b f) t d -> (b t) f d
            if i == 0:
                h = h + self.temp_embed
            h = self.blocks[i + 1](h, c_temporal)
            h = h.reshape(B, T, F_, D).transpose(1, 2).reshape(B * F_, T, D)  # (b t) f d -> (b f) t d
            if self.config['skip'] and i < half:
                skips.append(h)
        out = self.unpatchify(self.final_layer(h, c_spatial))  # ((b f), Cout, H, W)
        return out.reshape(B, F_, self.out_channels, H, W)


def load(path, device='cpu', dtype=torch.float32):
    """The model of a safetensors checkpoint in eval mode on `device` in `dtype`. Every module tensor must be in
    the file and every file tensor must be used (a precise error otherwise). Weights are copied one tensor at a
    time from a memory map (host peak: the model plus one tensor)."""
    config = config_from(path)
    model = (LatteSkip if config['family'] == 'latte' else DiTSkip)(config).to(device=device, dtype=dtype).eval()
    params = dict(model.named_parameters())
    header, _ = _header(path)
    in_file = {k for k in header if k != '__metadata__'}
    missing, unexpected = sorted(set(params) - in_file), sorted(in_file - set(params))
    if missing or unexpected:
        raise ValueError(f'{path}: state_dict mismatch; missing {missing[:8]}, unexpected {unexpected[:8]}')
    with torch.no_grad():
        for name, tensor in read_safetensors(path):
            if tuple(tensor.shape) != tuple(params[name].shape):
                raise ValueError(f'{path}: {name} has shape {list(tensor.shape)}, the model expects {list(params[name].shape)}')
            params[name].copy_(tensor)
    return model


def _main():
    """python3 dit_skip.py model.safetensors cases.safetensors [prefix]: runs the forward on the file's
    `<prefix>.x/.t/.y` (default prefix 'forward') and compares with `<prefix>.out` when present."""
    import sys
    model_path, cases_path = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) > 3 else 'forward'
    model = load(model_path)
    cases = dict(read_safetensors(cases_path, {f'{prefix}.{k}' for k in ('x', 't', 'y', 'out')}))
    with torch.no_grad():
        y = cases.get(f'{prefix}.y')
        out = model(cases[f'{prefix}.x'], cases[f'{prefix}.t'], None if y is None else y.long())
    print('output', tuple(out.shape))
    ref = cases.get(f'{prefix}.out')
    if ref is not None:
        rel = ((out - ref).abs().max() / ref.abs().max()).item()
        print(f'max|out - expected| / max|expected| = {rel:.3e}')
        sys.exit(0 if rel <= 1e-5 else 1)


if __name__ == '__main__':
    _main()
