// npm run bench:cache: what Skip-Cache buys on a DiT-XL/2-skip-sized model (random weights, latent 32x32,
// batch 2 = one image with CFG): a full step vs cached steps with k = 1 and k = 4, and whole 50-step DDIM runs
// uncached vs dit:2 vs dit:3, each next to the speedup its FLOP count predicts. The cache should add no
// overhead of its own: measured speedups within 10% of the FLOP prediction.
//   node dist/bench/cache.js [--model XL|B|S] [--steps 50] [--repeats 3] [--json]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pipeline, loadModel, normalizeConfig, type SkipCache } from '../lib/index.js';
import { callFlops, forwardFlops } from '../lib/flops.js';
import { writeRandomCheckpoint } from './random-checkpoint.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'XL' }, steps: { type: 'string', default: '50' },
    repeats: { type: 'string', default: '3' }, json: { type: 'boolean', default: false },
  },
});
const sizes = {
  XL: { depth: 28, hidden_size: 1152, num_heads: 16 },
  B: { depth: 12, hidden_size: 768, num_heads: 12 },
  S: { depth: 12, hidden_size: 384, num_heads: 6 },
} as const;
const size = sizes[values.model as keyof typeof sizes];
if (!size) throw new Error(`--model must be one of ${Object.keys(sizes).join(', ')}`);
const config = normalizeConfig({ family: 'dit', skip: true, patch_size: 2, input_size: 32, in_channels: 4, num_classes: 1000, ...size });
const steps = Number(values.steps), repeats = Number(values.repeats);
const log = (s: string) => { if (!values.json) console.log(s); };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-cache-bench-'));
try {
  const file = path.join(dir, 'model.safetensors');
  const bytes = writeRandomCheckpoint(file, config);
  const model = await loadModel(file, { backend: 'cpu' });
  log(`DiT-${values.model}/2-skip (random weights, ${(bytes / 2 ** 30).toFixed(2)} GiB fp32), latent 32x32, batch 2 (CFG), ${model.backend}`);

  const x = { data: new Float32Array(2 * 4 * 32 * 32).map((_, i) => Math.sin(i * 0.37)), shape: [2, 4, 32, 32] };
  const input = { x, t: 500, y: [207, 1000], cfgScale: 4 };

  // ---- single steps, interleaved (full, k=1, k=4, full, ...) so drifts of this shared machine's speed hit
  // every variant alike; medians of `repeats` rounds.
  const variants: Array<{ name: string; cache?: SkipCache; times: number[]; blocks: number }> = [
    { name: 'full step', times: [], blocks: config.depth },
    ...[1, 4].map((k) => ({ name: `cached step k=${k}`, cache: model.createCache({ interval: 1_000_000, branch: k }), times: [] as number[], blocks: 0 })),
  ];
  for (const v of variants) await model.forwardWithCfg(input, { cache: v.cache }); // warm-up; saves each feature
  for (let r = 0; r < repeats; r++) {
    for (const v of variants) {
      const t0 = performance.now();
      const out = await model.forwardWithCfg(input, { cache: v.cache });
      v.times.push(performance.now() - t0);
      v.blocks = out.blocksExecuted;
    }
  }
  const fullMs = median(variants[0].times);
  const stepRows = variants.map((v) => ({
    name: v.name, blocks: v.blocks, ms: median(v.times),
    gflop: callFlops(config, 2, v.blocks) / 1e9,
    measured: fullMs / median(v.times),
    predicted: forwardFlops(config, 2) / callFlops(config, 2, v.blocks),
  }));
  log('\nstep                blocks   median ms   GFLOP   speedup measured   predicted (FLOPs)   measured/predicted');
  for (const r of stepRows) {
    log(`${r.name.padEnd(18)} ${String(r.blocks).padStart(6)} ${r.ms.toFixed(1).padStart(11)} ${r.gflop.toFixed(1).padStart(7)} ${r.measured.toFixed(2).padStart(18)}x ${r.predicted.toFixed(2).padStart(18)}x ${(r.measured / r.predicted).toFixed(3).padStart(20)}`);
  }

  // ---- whole runs: the three pipelines advance in lockstep (one step of each in turn), each with its own
  // cache, and each accumulates the time of its own steps.
  const runs = ([false, 'dit:2', 'dit:3'] as const).map((cache) => ({
    name: cache === false ? 'uncached' : cache,
    pipe: new Pipeline(model, { sampler: 'ddim', steps, cfgScale: 4, cache }).init({ labels: [207], seed: 0 }),
    ms: 0,
  }));
  while (!runs[0].pipe.done) {
    for (const r of runs) r.ms += (await r.pipe.step()).ms;
  }
  const runRows = runs.map((r) => ({
    name: r.name, ms: r.ms, cached: r.pipe.cacheStats.cachedSteps, predicted: r.pipe.cacheStats.predictedSpeedup, measured: runs[0].ms / r.ms,
  }));
  log(`\n${steps}-step DDIM run   cached steps   seconds   speedup measured   predicted (FLOPs)   measured/predicted`);
  for (const r of runRows) {
    log(`${r.name.padEnd(16)} ${String(r.cached).padStart(12)} ${(r.ms / 1000).toFixed(1).padStart(9)} ${r.measured.toFixed(2).padStart(18)}x ${r.predicted.toFixed(2).padStart(18)}x ${(r.measured / r.predicted).toFixed(3).padStart(20)}`);
  }
  if (values.json) console.log(JSON.stringify({ model: values.model, config, steps: stepRows, runs: runRows }, null, 2));
  model.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
