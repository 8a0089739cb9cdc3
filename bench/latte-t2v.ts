// Latte text-to-video speed on the CPU: LatteT2V-XL-shaped random weights (Latte-0's transformer: D 1152, 28 pairs,
// 14 skips, caption 4096), bf16 weights by default.
//  1. One CFG step (batch 2 = [uncond, cond], 120 - 1 text rows: a long prompt) at the official 16 frames x 512x512
//     (latent 64x64): full, then cached (N2-700-50: pair 0 and pair 27 run), in seconds and % of the bf16 peak
//     measured in this run.
//  2. The whole 50-step DDIM run's speedup under N2-700-50: (a) from the two measured step times and the official
//     pattern (33 full, 17 cached), against the FLOP prediction; (b) measured end to end on a smaller latent
//     (--run-latent, default 8x8, 16 frames) with the same weights, every step timed, against its FLOP prediction.
// Usage: npm run bench:t2v -- [--dtype bfloat16|float32] [--frames 16] [--latent 64] [--run-latent 8] [--no-run] [--json]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeModel } from '../lib/architecture.js';
import { median, randomCheckpoint } from '../lib/bench.js';
import { latteT2VBase, type ModelConfig } from '../lib/config.js';
import { callFlops, forwardFlops } from '../lib/flops.js';
import { loadModel, type Model, type ModelDType } from '../lib/model.js';
import { native, packageRoot } from '../lib/native.js';
import { Pipeline } from '../lib/pipeline.js';
import { DiffusersDDIMScheduler } from '../lib/schedulers.js';

const { values } = parseArgs({
  options: {
    dtype: { type: 'string', default: 'bfloat16' }, frames: { type: 'string', default: '16' }, latent: { type: 'string', default: '64' },
    'run-latent': { type: 'string', default: '8' }, 'no-run': { type: 'boolean', default: false }, repeats: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});
const dtype = values.dtype as ModelDType;
const frames = Number(values.frames), latent = Number(values.latent), runLatent = Number(values['run-latent']);
const repeats = Number(values.repeats);
const log = (s: string) => { if (!values.json) console.log(s); };
const TEXT_ROWS = 120; // a prompt filling the 120 tokens (describeModel counts FLOPs at 120 text rows too)
const CFG = 7.5;

const peak = native().measurePeak(2);
const peakGflops = dtype === 'bfloat16' ? peak.bf16Gflops : peak.gflops;
log(`peak: fp32 ${peak.gflops.toFixed(0)} GFLOP/s, bf16 ${peak.bf16Gflops.toFixed(0)} GFLOP/s (${peak.isa}, ${peak.threads} threads)`);

// The weights do not depend on the latent size or the frames (the position tables are computed): one file.
const base: ModelConfig = { ...latteT2VBase, num_frames: frames };
const { file } = randomCheckpoint({ ...base, input_size: 64 }, path.join(packageRoot(), 'bench', '.cache'));

function textStates(rows: number, width: number) {
  const data = new Float32Array(2 * rows * width).map((_, i) => 0.1 * Math.sin(i * 0.013));
  return { data, shape: [2, rows, width] };
}

/** One CFG step's forward ([uncond, cond] rows, all channels guided) at timestep t, optionally with a cache. */
async function cfgStep(model: Model, t: number, cache?: ReturnType<Model['createCache']>) {
  const c = model.config;
  const shape = [2, c.in_channels, c.num_frames, c.input_size, c.input_size];
  const x = { data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.37)), shape };
  const start = performance.now();
  const r = await model.forwardWithCfg({ x, t, text: textStates(TEXT_ROWS, c.caption_channels!), cfgScale: CFG }, { cache });
  return { ms: performance.now() - start, blocks: r.blocksExecuted, cached: r.cached };
}

// 1. one CFG step at 512x512x16, full and cached
const model = await loadModel(file, { backend: 'cpu', dtype, config: { input_size: latent, num_frames: frames } });
const c = model.config;
log(`LatteT2V-XL/2-skip random weights (${dtype}, ${(model.memory().weightBytes / 2 ** 30).toFixed(2)} GiB), ${frames} frames of ${latent * 8}x${latent * 8} (latent ${latent}x${latent}), CFG batch 2, ${TEXT_ROWS} text rows`);
const cache = model.createCache('N2-700-50');
const full: number[] = [], cached: number[] = [];
let fullBlocks = 0, cachedBlocks = 0;
for (let r = 0; r < repeats; r++) {
  cache.reset();
  const a = await cfgStep(model, 980, cache); // t >= 700: full, saves the feature
  const b = await cfgStep(model, 680, cache); // count 1, t < 700: cached
  if (a.cached || !b.cached) throw new Error('expected a full then a cached step');
  full.push(a.ms);
  cached.push(b.ms);
  fullBlocks = a.blocks;
  cachedBlocks = b.blocks;
  log(`  round ${r + 1}: full ${(a.ms / 1000).toFixed(2)} s, cached ${(b.ms / 1000).toFixed(2)} s`);
}
const fullMs = median(full), cachedMs = median(cached);
const fullFlops = callFlops(c, 2, fullBlocks), cachedFlops = callFlops(c, 2, cachedBlocks);
const pct = (flops: number, ms: number) => (100 * flops) / 1e6 / ms / peakGflops;
log(`full CFG step:   ${(fullMs / 1000).toFixed(2)} s, ${(fullFlops / 1e12).toFixed(2)} TFLOP, ${(fullFlops / 1e6 / fullMs).toFixed(0)} GFLOP/s = ${pct(fullFlops, fullMs).toFixed(1)}% of the ${dtype === 'bfloat16' ? 'bf16' : 'fp32'} peak (${fullBlocks} blocks)`);
log(`cached CFG step: ${(cachedMs / 1000).toFixed(2)} s, ${(cachedFlops / 1e12).toFixed(3)} TFLOP, ${pct(cachedFlops, cachedMs).toFixed(1)}% of peak (${cachedBlocks} blocks); step speedup ${(fullMs / cachedMs).toFixed(2)}x (FLOPs predict ${(fullFlops / cachedFlops).toFixed(2)}x)`);
model.dispose();

// 2a. the 50-step run from the step times and the official pattern
const timesteps = new DiffusersDDIMScheduler(50).timesteps;
let count = 0, nFull = 0;
for (const t of timesteps) { // sample_t2v.py's rule: full if count % 2 == 0 or t >= 700; reset after t <= 50
  if (count % 2 === 0 || t >= 700) nFull++;
  count++;
  if (t <= 50) count = 0;
}
const nCached = 50 - nFull;
const fromSteps = (50 * fullMs) / (nFull * fullMs + nCached * cachedMs);
const predicted = (50 * fullFlops) / (nFull * fullFlops + nCached * cachedFlops);
log(`50-step run, N2-700-50 (${nFull} full, ${nCached} cached): ${(50 * fullMs / 60000).toFixed(1)} min -> ${((nFull * fullMs + nCached * cachedMs) / 60000).toFixed(1)} min, speedup ${fromSteps.toFixed(2)}x from the measured steps vs ${predicted.toFixed(2)}x from FLOPs`);

// 2b. whole runs, end to end, on a smaller latent
let runs: { latent: number; noneMs: number; cachedMs: number; speedup: number; predicted: number; fullSteps: number; cachedSteps: number } | undefined;
if (!values['no-run']) {
  const small = await loadModel(file, { backend: 'cpu', dtype, config: { input_size: runLatent, num_frames: frames } });
  const text = { states: { data: textStates(TEXT_ROWS, 4096).data.subarray(0, TEXT_ROWS * 4096), shape: [TEXT_ROWS, 4096] } };
  const pipes = [false, 'N2-700-50'].map((cachePolicy) => ({
    pipe: new Pipeline(small, { steps: 50, cfgScale: CFG, cache: cachePolicy as false | 'N2-700-50' }).init({ text: [text], negativeText: [text], seed: 0 }),
    ms: 0,
  }));
  while (!pipes[0].pipe.done) for (const p of pipes) p.ms += (await p.pipe.step()).ms; // lockstep: same conditions
  const [none, withCache] = pipes;
  runs = {
    latent: runLatent, noneMs: none.ms, cachedMs: withCache.ms, speedup: none.ms / withCache.ms, predicted: withCache.pipe.cacheStats.predictedSpeedup,
    fullSteps: withCache.pipe.cacheStats.fullSteps, cachedSteps: withCache.pipe.cacheStats.cachedSteps,
  };
  log(`whole 50-step runs at latent ${runLatent}x${runLatent} x ${frames} frames: no cache ${(none.ms / 1000).toFixed(1)} s, N2-700-50 ${(withCache.ms / 1000).toFixed(1)} s ` +
    `(${runs.fullSteps} full, ${runs.cachedSteps} cached): ${runs.speedup.toFixed(2)}x measured vs ${runs.predicted.toFixed(2)}x predicted by FLOPs`);
  small.dispose();
}

if (values.json) {
  console.log(JSON.stringify({
    peak, dtype, frames, latent, fullMs, cachedMs, fullFlops, cachedFlops, fullPeakPercent: pct(fullFlops, fullMs), cachedPeakPercent: pct(cachedFlops, cachedMs),
    pattern: { full: nFull, cached: nCached }, runSpeedupFromSteps: fromSteps, runSpeedupPredicted: predicted, runs,
    flopsFullForward: forwardFlops(c, 2), cachedBranches: describeModel(c, 2).cached.map((x) => x.branch),
  }, null, 2));
}
