// npm run bench:cache: what Skip-Cache buys on a DiT-XL/2-skip-sized model (random weights, latent 32x32,
// batch 2 = one image with CFG): a full step vs cached steps with k = 1 and k = 4, and whole 50-step DDIM runs
// uncached vs dit:2 vs dit:3, each next to the speedup its FLOP count predicts. The cache should add no
// overhead of its own: measured speedups within 10% of the FLOP prediction. The measurements are lib/bench.ts's
// (also behind `skipdit bench`, which adds the peak, memory and per-op profile).
//   node dist/bench/cache.js [--model XL|B|S] [--steps 50] [--repeats 3] [--json]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../lib/index.js';
import { benchConfig, benchSizes, measureRuns, measureSteps, randomCheckpoint, table, type BenchSize } from '../lib/bench.js';
import { native } from '../lib/native.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'XL' }, steps: { type: 'string', default: '50' },
    repeats: { type: 'string', default: '3' }, json: { type: 'boolean', default: false },
  },
});
if (!(values.model! in benchSizes)) throw new Error(`--model must be one of ${Object.keys(benchSizes).join(', ')}`);
const config = benchConfig(values.model as BenchSize);
const log = (s: string) => { if (!values.json) console.log(s); };

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-cache-bench-'));
try {
  const { file, bytes } = randomCheckpoint(config, dir);
  const model = await loadModel(file, { backend: 'cpu' });
  log(`DiT-${values.model}/2-skip (random weights, ${(bytes / 2 ** 30).toFixed(2)} GiB fp32), latent 32x32, batch 2 (CFG), ${model.backend}`);
  const steps = await measureSteps(model, 2, Number(values.repeats), native().measurePeak(0.5).gflops);
  log('\n' + table(
    ['step', 'blocks', 'median ms', 'GFLOP', 'speedup measured', 'predicted (FLOPs)', 'measured/predicted'],
    steps.map((r) => [r.name, r.blocks, r.ms.toFixed(1), r.gflop.toFixed(1), `${r.speedup.toFixed(2)}x`, `${r.predicted.toFixed(2)}x`, (r.speedup / r.predicted).toFixed(3)]),
  ));
  const runs = await measureRuns(model, Number(values.steps), ['none', 'dit:2', 'dit:3']);
  log('\n' + table(
    [`${values.steps}-step DDIM run`, 'cached steps', 'seconds', 'speedup measured', 'predicted (FLOPs)', 'measured/predicted'],
    runs.map((r) => [r.policy, r.cachedSteps, (r.ms / 1000).toFixed(1), `${r.speedup.toFixed(2)}x`, `${r.predicted.toFixed(2)}x`, (r.speedup / r.predicted).toFixed(3)]),
  ));
  if (values.json) console.log(JSON.stringify({ model: values.model, config, steps, runs }, null, 2));
  model.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
