// npm run bench: forward-pass timing of skipdit's CPU backend on random weights (no downloads), with
// achieved GFLOP/s against the measured FMA peak. The side-by-side comparison with ONNX Runtime is
// bench/ort.ts (npm run bench:ort); cached steps, whole runs and per-op times are `skipdit bench` (lib/bench.ts).
//   node dist/bench/forward.js [--model S|B|tiny] [--batch 2] [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backends, loadModel, normalizeConfig, type ModelConfig } from '../lib/index.js';
import { native } from '../lib/native.js';
import { forwardFlops } from '../lib/flops.js';
import { median as medianOf } from '../lib/bench.js';
import { writeRandomCheckpoint } from '../lib/random-checkpoint.js';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'S' }, batch: { type: 'string', default: '2' }, runs: { type: 'string', default: '5' } },
});
const shapes: Record<string, Partial<ModelConfig>> = {
  tiny: { depth: 8, hidden_size: 64, num_heads: 4, input_size: 8 },
  S: { depth: 12, hidden_size: 384, num_heads: 6, input_size: 32 },
  B: { depth: 12, hidden_size: 768, num_heads: 12, input_size: 32 },
};
if (!(values.model! in shapes)) throw new Error(`--model must be one of ${Object.keys(shapes).join(', ')}`);
const config = normalizeConfig({ family: 'dit', skip: true, patch_size: 2, in_channels: 4, num_classes: 1000, ...shapes[values.model!] });
const batch = Number(values.batch);
const runs = Number(values.runs);

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-bench-'));
try {
  const file = path.join(dir, 'model.safetensors');
  writeRandomCheckpoint(file, config);
  const model = await loadModel(file, { backend: 'cpu' });
  const shape = [batch, config.in_channels, config.input_size, config.input_size];
  const x = { data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i)), shape };
  const input = { x, t: 500, y: Array.from({ length: batch }, (_, i) => i) };
  await model.forward(input); // warm-up: sizes the workspace
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await model.forward(input);
    times.push(performance.now() - t0);
  }
  const median = medianOf(times);
  const gflop = forwardFlops(config, batch) / 1e9;
  const peak = native().measurePeak(0.5);
  const achieved = gflop / (median / 1000);
  console.log(`DiT-${values.model}/2-skip  batch ${batch}  ${gflop.toFixed(2)} GFLOP/forward; GEMM kernel ${backends()[0].details.gemm}`);
  console.log(`measured fp32 FMA peak: ${peak.gflops.toFixed(0)} GFLOP/s (${peak.threads} threads, ${peak.isa})`);
  console.log(`skipdit cpu: median ${median.toFixed(1)} ms over ${runs} runs (min ${Math.min(...times).toFixed(1)}), ${achieved.toFixed(1)} GFLOP/s = ${((100 * achieved) / peak.gflops).toFixed(0)}% of peak`);
  model.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
