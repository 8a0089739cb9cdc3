"""GPU anchor for bench/gpu.ts: the measured bf16 matmul peak of this GPU and PyTorch eager / CUDA-graphed
bf16 timings of the same DiT-skip or Latte-skip checkpoint (bench/torch/dit_skip.py). Prints one JSON object.

    python3 bench/torch/gpu_bench.py CHECKPOINT --batch 2 [--iters 20] [--no-peak]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dit_skip  # noqa: E402


def time_ms(fn, iters):
    """Median of `iters` runs timed with CUDA events, after 3 warm-up runs."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('checkpoint')
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--iters', type=int, default=20)
    ap.add_argument('--no-peak', action='store_true', help='skip the matmul peak (measured with the DiT run)')
    args = ap.parse_args()
    dev = torch.device('cuda')
    out = {'device': torch.cuda.get_device_name(0), 'torch': torch.__version__}

    if not args.no_peak:
        n = 8192  # random operands (zeros run faster), several times the L2
        a, b = torch.randn(n, n, device=dev, dtype=torch.bfloat16), torch.randn(n, n, device=dev, dtype=torch.bfloat16)
        ms = time_ms(lambda: torch.matmul(a, b), args.iters)
        out['bf16_matmul_tflops'] = 2 * n ** 3 / (ms * 1e-3) / 1e12
        del a, b

    model = dit_skip.load(args.checkpoint, device=dev, dtype=torch.bfloat16)
    c = model.config
    B = args.batch
    frames = (c['num_frames'],) if c['family'] == 'latte' else ()  # Latte: (B, F, C, H, W)
    x = torch.randn(B, *frames, c['in_channels'], c['input_size'], c['input_size'], device=dev)
    t = torch.full((B,), 500.0, device=dev)
    y = torch.randint(0, max(1, c['num_classes']), (B,), device=dev)
    with torch.no_grad():
        out['eager_step_ms'] = time_ms(lambda: model(x, t, y), args.iters)
        try:
            g = torch.cuda.CUDAGraph()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    model(x, t, y)
            torch.cuda.current_stream().wait_stream(s)
            with torch.cuda.graph(g):
                model(x, t, y)
            out['graphed_step_ms'] = time_ms(g.replay, args.iters)
        except Exception as e:  # noqa: BLE001 - report, do not fail the whole benchmark
            out['graphed_error'] = str(e)[:200]
    print(json.dumps(out))


if __name__ == '__main__':
    main()
