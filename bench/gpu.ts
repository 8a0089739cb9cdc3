// npm run bench:gpu [-- --torch torch.json --out dir]: the CUDA backend on DiT-XL/2-skip 256x256, batch 2,
// random weights (bf16 and fp32): full step, cached step k=1 / k=4, 50-step DDIM uncached and with
// Skip-Cache interval 2 / 3 (derived from the measured step times: 50 = full + cached calls), VAE decode
// of a 32x32 latent, TFLOP/s against the bf16 matmul peak measured by bench/torch/gpu_bench.py, and the
// PyTorch eager / CUDA-graphed bf16 step of the same checkpoint side by side when --torch is given.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backends, loadModel, loadVae, normalizeConfig, sdVaeConfig, type Model } from '../lib/index.js';
import { forwardFlops, callFlops } from '../lib/flops.js';
import { native } from '../lib/native.js';
import { writeRandomCheckpoint } from '../lib/random-checkpoint.js';
import { writeVaeWeights } from './vae-weights.js';

const { values } = parseArgs({ options: { torch: { type: 'string' }, out: { type: 'string' }, ckpt: { type: 'string' }, runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);
if (!backends()[1].available) {
  console.log(`bench/gpu.ts: no GPU: skipped (${backends()[1].reason})`);
  process.exit(0);
}
const config = normalizeConfig({ family: 'dit', skip: true, depth: 28, hidden_size: 1152, num_heads: 16, patch_size: 2, input_size: 32, in_channels: 4, num_classes: 1000, learn_sigma: true });
const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-gpu-'));
const ckpt = values.ckpt ?? path.join(dir, 'dit-xl-2-skip.safetensors');
if (!values.ckpt) writeRandomCheckpoint(ckpt, config);

const B = 2;
const x = { data: Float32Array.from({ length: B * 4 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)), shape: [B, 4, 32, 32] };
async function median(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[ts.length >> 1];
}
async function stepTimes(model: Model) {
  const full = await median(() => model.forward({ x, t: 500, y: [1, 2] }));
  const cached: Record<number, number> = {};
  for (const k of [1, 4]) {
    const cache = model.createCache({ interval: 1_000_000, branch: k });
    await model.forward({ x, t: 500, y: [1, 2] }, { cache }); // the one full call
    cached[k] = await median(() => model.forward({ x, t: 500, y: [1, 2] }, { cache }));
  }
  return { full, cached };
}

const rows: Record<string, unknown>[] = [];
const peak = values.torch ? JSON.parse(readFileSync(values.torch, 'utf8')) : null;
// The timed calls replay CUDA graphs (the warm-up calls record them); 'bf16-eager' turns graphs off to show
// what they save.
for (const [label, dtype, graphs] of [['bfloat16', 'bfloat16', true], ['bf16-eager', 'bfloat16', false], ['float32', 'float32', true]] as const) {
  if (!graphs) process.env.SKIPDIT_CUDA_GRAPHS = '0';
  const model = await loadModel(ckpt, { backend: 'cuda', dtype });
  const s = await stepTimes(model);
  delete process.env.SKIPDIT_CUDA_GRAPHS;
  const tflops = forwardFlops(config, B) / (s.full * 1e-3) / 1e12;
  const k1 = callFlops(config, B, 2) / (s.cached[1] * 1e-3) / 1e12;
  rows.push({
    dtype: label, full_ms: s.full, cached_k1_ms: s.cached[1], cached_k4_ms: s.cached[4],
    ddim50_ms: 50 * s.full, ddim50_dit2_ms: 25 * s.full + 25 * s.cached[1], ddim50_dit3_ms: 17 * s.full + 33 * s.cached[1],
    full_tflops: tflops, cached_k1_tflops: k1, pct_of_bf16_peak: peak ? (100 * tflops) / peak.bf16_matmul_tflops : null,
  });
  model.dispose();
}
const vaeFile = path.join(dir, 'vae.safetensors');
writeVaeWeights(vaeFile, sdVaeConfig);
const vae = await loadVae(vaeFile, { backend: 'cuda' });
const z = { data: Float32Array.from({ length: 4 * 32 * 32 }, (_, i) => Math.cos(i * 0.11)), shape: [1, 4, 32, 32] };
const vaeMs = await median(() => vae.decode(z));
vae.dispose();

const result = { device: native().backends()[1].devices[0]?.name, config: 'DiT-XL/2-skip 256x256 batch 2, random weights', rows, vae_decode_32_ms: vaeMs, torch: peak };
const outDir = values.out ?? process.env.OUT ?? 'gpu-results';
mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'bench-gpu.json'), JSON.stringify(result, null, 2));
rmSync(dir, { recursive: true, force: true });
const f = (v: unknown) => (typeof v === 'number' ? v.toFixed(2) : '-');
console.log('\nskipdit CUDA, DiT-XL/2-skip 256px batch 2 (ms, median of ' + runs + ')');
console.log('dtype       full   cached k1  cached k4  ddim50  dit:2   dit:3   TFLOP/s  %peak');
for (const r of rows as Record<string, number>[]) console.log([String(r.dtype).padEnd(10), f(r.full_ms), f(r.cached_k1_ms), f(r.cached_k4_ms), f(r.ddim50_ms), f(r.ddim50_dit2_ms), f(r.ddim50_dit3_ms), f(r.full_tflops), f(r.pct_of_bf16_peak)].join('  '));
if (peak) console.log(`torch bf16 eager step ${f(peak.eager_step_ms)} ms, CUDA-graphed ${f(peak.graphed_step_ms)} ms, bf16 matmul peak ${f(peak.bf16_matmul_tflops)} TFLOP/s`);
console.log(`VAE decode 32x32 latent -> 256px (fp32): ${f(vaeMs)} ms`);
