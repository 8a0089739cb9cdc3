"""Exports a DiT / DiT-skip safetensors checkpoint (official state_dict names, e.g. from
lib/random-checkpoint.ts) to ONNX for the ONNX Runtime comparison in bench/ort.ts.

    /usr/bin/python3 bench/torch/export_onnx.py model.safetensors out/model.onnx [--batch 2] [--opset 17]

Graph: inputs x (B, C, H, W) float32, t (B,) float32, y (B,) int64; output out (B, Cout, H, W) float32. The batch
axis is dynamic (`--batch` only sizes the trace). Opset 17 (the newest torch 1.13 writes; it has
LayerNormalization). Models over 2 GB (DiT-XL/2 fp32 is 2.65 GB) exceed protobuf's limit: torch 1.13 then writes
the weights as external data, one file per tensor next to model.onnx, so give every model its own folder.
ONNX Runtime finds those files relative to the .onnx path. Needs the `onnx` python package only for the check
at the end (Debian: python3-onnx); without it the export still works.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dit_skip  # noqa: E402  (the module next to this script)


def export(checkpoint, out, batch=2, opset=17):
    model = dit_skip.load(checkpoint)
    for m in model.modules():
        if isinstance(m, dit_skip.Attention):  # the explicit softmax(q k^T) v exports on every torch version
            m.fused = False
        if isinstance(m, torch.nn.LayerNorm) and not m.elementwise_affine:
            # torch 1.13 writes an affine-free LayerNorm as LayerNormalization with an empty scale input, which
            # opset 17 forbids; ones/zeros make it valid and change nothing.
            m.elementwise_affine = True
            m.weight = torch.nn.Parameter(torch.ones(m.normalized_shape))
            m.bias = torch.nn.Parameter(torch.zeros(m.normalized_shape))
    c = model.config
    x = torch.randn(batch, c['in_channels'], c['input_size'], c['input_size'])  # (B, C, H, W)
    t = torch.full((batch,), 500.0)  # (B,)
    y = torch.zeros(batch, dtype=torch.int64)  # (B,)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model, (x, t, y), out, input_names=['x', 't', 'y'], output_names=['out'], opset_version=opset,
            dynamic_axes={'x': {0: 'B'}, 't': {0: 'B'}, 'y': {0: 'B'}, 'out': {0: 'B'}}, do_constant_folding=True,
        )
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('checkpoint')
    ap.add_argument('out')
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--opset', type=int, default=17)
    args = ap.parse_args()
    export(args.checkpoint, args.out, args.batch, args.opset)
    folder = os.path.dirname(os.path.abspath(args.out))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f'wrote {args.out} (folder {size / 2**20:.1f} MiB, opset {args.opset})')
    try:
        import onnx
    except ImportError:
        return
    onnx.checker.check_model(args.out)  # a path: also works for models with external data
    print('onnx.checker: ok')


if __name__ == '__main__':
    main()
