// npm run bench:gpu [-- --torch torch.json --out dir]: the CUDA backend on DiT-XL/2-skip 256x256, batch 2,
// random weights (bf16 and fp32): full step, cached step k=1 / k=4, 50-step DDIM uncached and with
// Skip-Cache interval 2 / 3 (derived from the measured step times: 50 = full + cached calls), VAE decode
// of a 32x32 latent, TFLOP/s against the bf16 matmul peak measured by bench/torch/gpu_bench.py, and the
// PyTorch eager / CUDA-graphed bf16 step of the same checkpoint side by side when --torch is given.
// Then timed end to end (bf16): whole 256px generations, 50 DDIM steps through the Pipeline plus the VAE
// decode, uncached and with dit:2 / dit:3; and Latte-XL/2-skip (16 frames) full and cached steps
// (`--no-latte` skips them; `--latte-ckpt` reuses a checkpoint, `--torch-latte` adds gpu_bench.py's PyTorch timings
// of it).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backends, loadModel, loadVae, Pipeline, sdVaeConfig, type CachePolicyInput, type Model, type Tensor } from '../lib/index.js';
import { benchConfig } from '../lib/bench.js';
import { forwardFlops, callFlops } from '../lib/flops.js';
import { native } from '../lib/native.js';
import { writeRandomCheckpoint } from '../lib/random-checkpoint.js';
import { writeVaeWeights } from './vae-weights.js';

const { values } = parseArgs({
  options: {
    torch: { type: 'string' }, out: { type: 'string' }, ckpt: { type: 'string' }, runs: { type: 'string', default: '10' },
    'no-latte': { type: 'boolean', default: false }, 'latte-ckpt': { type: 'string' }, 'torch-latte': { type: 'string' },
  },
});
const runs = Number(values.runs);
if (!backends()[1].available) {
  console.log(`bench/gpu.ts: no GPU: skipped (${backends()[1].reason})`);
  process.exit(0);
}
const config = benchConfig('XL');
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
async function stepTimes(model: Model, input: { x: Tensor; t: number; y: number[] } = { x, t: 500, y: [1, 2] }) {
  const full = await median(() => model.forward(input));
  const cached: Record<number, number> = {};
  for (const k of [1, 4]) {
    const cache = model.createCache({ interval: 1_000_000, branch: k });
    await model.forward(input, { cache }); // the one full call
    cached[k] = await median(() => model.forward(input, { cache }));
  }
  return { full, cached };
}

const rows: Record<string, unknown>[] = [];
const peak = values.torch ? JSON.parse(readFileSync(values.torch, 'utf8')) : null;
// The timed calls replay CUDA graphs (the warm-up calls record them); 'bf16-eager' turns graphs off to show
// what they save, 'bf16-simt-attn' keeps attention on the float32 SIMT kernel instead of the tensor cores.
const variants = [
  ['bfloat16', 'bfloat16', {}], ['bf16-eager', 'bfloat16', { SKIPDIT_CUDA_GRAPHS: '0' }],
  ['bf16-simt-attn', 'bfloat16', { SKIPDIT_CUDA_ATTENTION: 'simt' }], ['float32', 'float32', {}],
] as const;
for (const [label, dtype, env] of variants) {
  Object.assign(process.env, env);
  const model = await loadModel(ckpt, { backend: 'cuda', dtype });
  const s = await stepTimes(model);
  for (const key of Object.keys(env)) delete process.env[key];
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
const z = { data: Float32Array.from({ length: 4 * 32 * 32 }, (_, i) => Math.cos(i * 0.11)), shape: [1, 4, 32, 32] };
const vaeF32 = await loadVae(vaeFile, { backend: 'cuda' });
const vaeMs = await median(() => vaeF32.decode(z));
vaeF32.dispose();
// bf16 weights: the convolutions on the tensor cores (what the generations below use)
const vae = await loadVae(vaeFile, { backend: 'cuda', dtype: 'bfloat16' });
const vaeBf16Ms = await median(() => vae.decode(z));

// Whole generations, timed end to end: one 256px image (class 0, CFG 4 = batch 2), 50 DDIM steps through the
// Pipeline (latents, guidance and sampler update on the device: one native call per step), then the VAE decode
// (bf16 weights). Median of 3 after
// one untimed run per policy (which records the CUDA graphs).
const generations: Record<string, unknown>[] = [];
{
  const model = await loadModel(ckpt, { backend: 'cuda', dtype: 'bfloat16' });
  for (const policy of ['none', 'dit:2', 'dit:3']) {
    const generate = async () => {
      const pipe = new Pipeline(model, { sampler: 'ddim', steps: 50, cfgScale: 4, cache: policy === 'none' ? false : (policy as CachePolicyInput) });
      pipe.init({ labels: [0], seed: 0 });
      await pipe.run();
      await vae.decode(pipe.samples);
      const cachedSteps = pipe.cacheStats.cachedSteps;
      pipe.dispose();
      return cachedSteps;
    };
    const cachedSteps = await generate();
    const ts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await generate();
      ts.push(performance.now() - t0);
    }
    generations.push({ policy, cached_steps: cachedSteps, generate_ms: ts.sort((a, b) => a - b)[1] });
  }
  model.dispose();
}
vae.dispose();

// Latte-XL/2-skip, 16 frames of 32x32 latents, batch 2 (one video with CFG): step times, next to PyTorch's
// (bench/torch/gpu_bench.py on the same checkpoint) when --torch-latte is given.
let latte: Record<string, unknown> | null = null;
if (!values['no-latte']) {
  const latteConfig = benchConfig('XL', 'latte');
  const latteFile = values['latte-ckpt'] ?? path.join(dir, 'latte-xl-2-skip.safetensors');
  if (!values['latte-ckpt']) writeRandomCheckpoint(latteFile, latteConfig);
  const F = latteConfig.num_frames;
  const lx = { data: Float32Array.from({ length: B * F * 4 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)), shape: [B, F, 4, 32, 32] };
  const model = await loadModel(latteFile, { backend: 'cuda', dtype: 'bfloat16' });
  const s = await stepTimes(model, { x: lx, t: 500, y: [1, latteConfig.num_classes] });
  const torchLatte = values['torch-latte'] ? JSON.parse(readFileSync(values['torch-latte'], 'utf8')) : null;
  latte = {
    full_ms: s.full, cached_k1_ms: s.cached[1], cached_k4_ms: s.cached[4], full_tflops: forwardFlops(latteConfig, B) / (s.full * 1e-3) / 1e12,
    torch_eager_ms: torchLatte?.eager_step_ms ?? null, torch_graphed_ms: torchLatte?.graphed_step_ms ?? null,
  };
  model.dispose();
  if (!values['latte-ckpt']) rmSync(latteFile, { force: true });
}

const result = { device: native().backends()[1].devices[0]?.name, config: 'DiT-XL/2-skip 256x256 batch 2, random weights', rows, vae_decode_32_ms: vaeMs, vae_decode_32_bf16_ms: vaeBf16Ms, generations, latte_xl_16_frames_bf16: latte, torch: peak };
const outDir = values.out ?? process.env.OUT ?? 'gpu-results';
mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'bench-gpu.json'), JSON.stringify(result, null, 2));
rmSync(dir, { recursive: true, force: true });
const f = (v: unknown) => (typeof v === 'number' ? v.toFixed(2) : '-');
console.log('\nskipdit CUDA, DiT-XL/2-skip 256px batch 2 (ms, median of ' + runs + ')');
console.log('dtype           full   cached k1  cached k4  ddim50  dit:2   dit:3   TFLOP/s  %peak');
for (const r of rows as Record<string, number>[]) console.log([String(r.dtype).padEnd(14), f(r.full_ms), f(r.cached_k1_ms), f(r.cached_k4_ms), f(r.ddim50_ms), f(r.ddim50_dit2_ms), f(r.ddim50_dit3_ms), f(r.full_tflops), f(r.pct_of_bf16_peak)].join('  '));
if (peak) console.log(`torch bf16 eager step ${f(peak.eager_step_ms)} ms, CUDA-graphed ${f(peak.graphed_step_ms)} ms, bf16 matmul peak ${f(peak.bf16_matmul_tflops)} TFLOP/s`);
console.log(`VAE decode 32x32 latent -> 256px: fp32 ${f(vaeMs)} ms, bf16 weights ${f(vaeBf16Ms)} ms`);
for (const g of generations as Record<string, number | string>[]) {
  console.log(`generation 256px, 50 DDIM steps + bf16 VAE decode, bf16, ${String(g.policy).padEnd(5)} (${g.cached_steps} cached steps): ${f(g.generate_ms)} ms`);
}
if (latte) {
  console.log(`Latte-XL/2-skip 16 frames bf16: full ${f(latte.full_ms)} ms (${f(latte.full_tflops)} TFLOP/s), cached k1 ${f(latte.cached_k1_ms)} ms, k4 ${f(latte.cached_k4_ms)} ms` +
    (latte.torch_eager_ms !== null ? `; torch bf16 eager ${f(latte.torch_eager_ms)} ms, CUDA-graphed ${f(latte.torch_graphed_ms)} ms` : ''));
}
