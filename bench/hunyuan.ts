// Hunyuan-DiT speed on the CPU: DiT-g/2-shaped random weights (v1.2: D 1408, depth 40, 16 heads, mlp 4.3637; BERT
// 77 x 1024 and mT5 256 x 2048 text states), bf16 weights by default. One CFG call (batch 2 = [negative, prompt])
// at 512x512 and at 1024x1024: full, then cached (hunyuan:N:1 resumes at block 39), in seconds and % of the peak
// measured in this run; the 100-step DDPM run's speedup for hunyuan:2 and hunyuan:3 from the step times and the
// official patterns (full if count % N == 0 or t >= 700, reset after t <= 50), against the FLOP prediction.
// With --run-size P: whole DDPM runs at P x P pixels, no cache / hunyuan:2 / hunyuan:3 advanced in lockstep, every
// step timed, against the FLOP prediction.
// Usage: npm run bench:hunyuan -- [--dtype bfloat16|float32] [--sizes 512,1024] [--profile] [--run-size 64] [--json]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median, randomCheckpoint } from '../lib/bench.js';
import { hunyuanV12Base, type ModelConfig } from '../lib/config.js';
import { callFlops } from '../lib/flops.js';
import { loadModel, type Model, type ModelDType } from '../lib/model.js';
import { native, packageRoot } from '../lib/native.js';
import { Pipeline } from '../lib/pipeline.js';

const { values } = parseArgs({
  options: {
    dtype: { type: 'string', default: 'bfloat16' }, sizes: { type: 'string', default: '512,1024' }, profile: { type: 'boolean', default: false },
    'run-size': { type: 'string', default: '0' }, 'run-steps': { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  },
});
const dtype = values.dtype as ModelDType;
const sizes = values.sizes!.split(',').filter((s) => s !== '').map(Number);
const log = (s: string) => { if (!values.json) console.log(s); };

const peak = native().measurePeak(2);
const peakGflops = dtype === 'bfloat16' ? peak.bf16Gflops : peak.gflops;
log(`peak: fp32 ${peak.gflops.toFixed(0)} GFLOP/s, bf16 ${peak.bf16Gflops.toFixed(0)} GFLOP/s (${peak.isa}, ${peak.threads} threads)`);

const config: ModelConfig = { ...hunyuanV12Base };
const { file } = randomCheckpoint(config, path.join(packageRoot(), 'bench', '.cache'));
const model = await loadModel(file, { backend: 'cpu', dtype, profile: values.profile });
log(`Hunyuan-DiT v1.2 (DiT-g/2) random weights, ${dtype} (${(model.memory().weightBytes / 2 ** 30).toFixed(2)} GiB), CFG batch 2`);

/** One CFG call at a latent of h x w (pixels / 8), with the text of two prompts filling every token. */
async function cfgCall(m: Model, h: number, w: number, t: number, cache: ReturnType<Model['createCache']>) {
  const c = m.config;
  const shape = [2, c.in_channels, h, w];
  const x = { data: new Float32Array(2 * c.in_channels * h * w).map((_, i) => Math.sin(i * 0.37)), shape };
  const states = (L: number, D: number) => ({ data: new Float32Array(2 * L * D).map((_, i) => 0.1 * Math.sin(i * 0.013)), shape: [2, L, D] });
  const mask = (L: number) => ({ data: new Float32Array(2 * L).fill(1), shape: [2, L] });
  const text = [{ states: states(c.text_len!, c.text_states_dim!), mask: mask(c.text_len!) }, { states: states(c.text_len_t5!, c.text_states_dim_t5!), mask: mask(c.text_len_t5!) }];
  const start = performance.now();
  const r = await m.forwardWithCfg({ x, t, text, cfgScale: 6 }, { cache });
  return { ms: performance.now() - start, blocks: r.blocksExecuted, cached: r.cached };
}

/** sample_t2i.py's DDPM timesteps (leading, steps_offset 1) and the official cache rule: the full steps' count. */
function fullSteps(steps: number, interval: number): number {
  const ratio = Math.floor(1000 / steps);
  let count = 0, full = 0;
  for (let i = 0; i < steps; i++) {
    const t = (steps - 1 - i) * ratio + 1;
    if (count % interval === 0 || t >= 700) full++;
    count++;
    if (t <= 50) count = 0;
  }
  return full;
}

const results = [];
for (const px of sizes) {
  const h = px / 8, w = px / 8;
  const flopConfig = { ...config, input_size: h };
  const cache = model.createCache('hunyuan:2:1');
  if (values.profile) model.profile({ reset: true });
  const full = await cfgCall(model, h, w, 999, cache); // t >= 700: full, saves the feature
  if (values.profile) {
    const ops = model.profile({ reset: true })!.ops.sort((a, b) => b.seconds - a.seconds).slice(0, 6);
    log(`  full call's top ops: ${ops.map((o) => `${o.op} ${o.seconds.toFixed(1)} s (${(o.flops / 1e9 / Math.max(o.seconds, 1e-9)).toFixed(0)} GFLOP/s)`).join(', ')}`);
  }
  const cached = await cfgCall(model, h, w, 681, cache); // count 1: cached (blocks 0 and 39)
  if (full.cached || !cached.cached) throw new Error('expected a full then a cached call');
  const fullFlops = callFlops(flopConfig, 2, full.blocks), cachedFlops = callFlops(flopConfig, 2, cached.blocks);
  const pct = (flops: number, ms: number) => (100 * flops) / 1e6 / ms / peakGflops;
  log(`${px}x${px} (latent ${h}x${w}, ${h * w / 4} tokens): full ${(full.ms / 1000).toFixed(2)} s, ${(fullFlops / 1e12).toFixed(2)} TFLOP, ${pct(fullFlops, full.ms).toFixed(1)}% of peak; ` +
    `cached ${(cached.ms / 1000).toFixed(2)} s, ${pct(cachedFlops, cached.ms).toFixed(1)}% (${cached.blocks} blocks); step speedup ${(full.ms / cached.ms).toFixed(2)}x (FLOPs ${(fullFlops / cachedFlops).toFixed(2)}x)`);
  const runs = [2, 3].map((n) => {
    const nFull = fullSteps(100, n), nCached = 100 - nFull;
    const measured = (100 * full.ms) / (nFull * full.ms + nCached * cached.ms);
    const predicted = (100 * fullFlops) / (nFull * fullFlops + nCached * cachedFlops);
    log(`  100 DDPM steps, hunyuan:${n} (${nFull} full, ${nCached} cached): ${(100 * full.ms / 60000).toFixed(1)} -> ${((nFull * full.ms + nCached * cached.ms) / 60000).toFixed(1)} min, ${measured.toFixed(2)}x from the step times vs ${predicted.toFixed(2)}x from FLOPs`);
    return { interval: n, fullSteps: nFull, cachedSteps: nCached, measured, predicted };
  });
  results.push({ px, fullMs: full.ms, cachedMs: cached.ms, fullFlops, cachedFlops, fullPeakPercent: pct(fullFlops, full.ms), cachedPeakPercent: pct(cachedFlops, cached.ms), runs });
}
let runs: Array<{ policy: string; ms: number; fullSteps: number; cachedSteps: number; speedup: number; predicted: number }> | undefined;
const runSize = Number(values['run-size']);
if (runSize > 0) {
  const c = model.config;
  const prompt = (L: number, D: number) => ({ states: { data: new Float32Array(L * D).map((_, i) => 0.1 * Math.sin(i * 0.013)), shape: [L, D] }, mask: { data: new Float32Array(L).fill(1), shape: [L] } });
  const pair = [prompt(c.text_len!, c.text_states_dim!), prompt(c.text_len_t5!, c.text_states_dim_t5!)] as [ReturnType<typeof prompt>, ReturnType<typeof prompt>];
  const steps = Number(values['run-steps']);
  const pipes = (['none', 'hunyuan:2', 'hunyuan:3'] as const).map((policy) => ({
    policy,
    pipe: new Pipeline(model, { steps, cfgScale: 6, cache: policy === 'none' ? false : policy }).init({ text: [pair], negativeText: [pair], size: [runSize, runSize], seed: 0 }),
    ms: 0,
  }));
  while (!pipes[0].pipe.done) for (const p of pipes) p.ms += (await p.pipe.step()).ms; // lockstep: the same machine conditions
  runs = pipes.map((p) => ({
    policy: p.policy, ms: p.ms, fullSteps: p.pipe.cacheStats.fullSteps, cachedSteps: p.pipe.cacheStats.cachedSteps,
    speedup: pipes[0].ms / p.ms, predicted: p.pipe.cacheStats.predictedSpeedup,
  }));
  for (const r of runs) {
    log(`whole ${steps}-step DDPM run at ${runSize}x${runSize}, ${r.policy}: ${(r.ms / 1000).toFixed(1)} s (${r.fullSteps} full, ${r.cachedSteps} cached), ${r.speedup.toFixed(2)}x measured vs ${r.predicted.toFixed(2)}x predicted by FLOPs`);
  }
}
model.dispose();
if (values.json) console.log(JSON.stringify({ peak, dtype, results, runs, medianFullMs: median(results.map((r) => r.fullMs)) }, null, 2));
