// npm run bench:ort: skipdit's CPU forward side by side with ONNX Runtime on the same DiT-skip graph, weights and
// inputs. Random weights of an official size (cached in bench/.cache), exported to ONNX by PyTorch
// (bench/torch/export_onnx.py, needs python3 with torch: Debian python3-torch), run by onnxruntime-node (a
// devDependency). Both outputs must agree before anything is timed; then the two are timed interleaved and
// medians reported with GFLOP/s, % of the measured FMA peak and the ratio skipdit / ORT.
//   node dist/bench/ort.js [--model S|B|XL] [--batch 2] [--repeats 5] [--threads 2] [--dtype float32|bfloat16]
//                          [--cached] [--python /usr/bin/python3] [--baseline <checkout>] [--json]
// --baseline adds another skipdit build (a checkout with dist/ and its addon built, e.g. the previous commit in a git
// worktree) as a third engine in the same interleaved run: its output must equal this build's bit for bit, and the
// table gives this build's time over the baseline's.
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, type ModelDType, type ModelConfig } from '../lib/index.js';
import { benchConfig, benchInput, benchSizes, interleaved, median, peakFor, randomCheckpoint, table, type BenchSize } from '../lib/bench.js';
import { callFlops } from '../lib/flops.js';
import { native, packageRoot } from '../lib/native.js';
import { relativeError } from '../lib/quality-metrics.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'S' }, batch: { type: 'string', default: '2' }, repeats: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' }, dtype: { type: 'string', default: 'float32' }, cached: { type: 'boolean', default: false },
    python: { type: 'string' }, baseline: { type: 'string' }, json: { type: 'boolean', default: false },
  },
});
if (!(values.model! in benchSizes)) throw new Error(`--model must be one of ${Object.keys(benchSizes).join(', ')}`);
const config = benchConfig(values.model as BenchSize);
const batch = Number(values.batch), repeats = Number(values.repeats), threads = Number(values.threads);
const dtype = values.dtype as ModelDType;
// fp32 must agree to 1e-4 relative; bf16 weights differ from the fp32 graph by their rounding (~2^-8 per weight).
const tolerance = dtype === 'float32' ? 1e-4 : 3e-2;
const log = (s: string) => { if (!values.json) console.log(s); };
const cacheDir = path.join(packageRoot(), 'bench', '.cache');

/** python3 with torch: --python, $SKIPDIT_PYTHON, Debian's /usr/bin/python3, then python3 on PATH. */
function findPython(): string {
  const candidates = [values.python, process.env.SKIPDIT_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  for (const p of candidates) {
    if (spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return p;
  }
  throw new Error(
    `no python with torch found (tried ${candidates.join(', ')}); the ONNX export needs PyTorch: ` +
      'apt-get install python3-torch (Debian), or pass --python / set SKIPDIT_PYTHON',
  );
}

/** The ONNX graph of a checkpoint, exported once into its own folder (external weight files live beside it). */
function onnxGraph(checkpoint: string): string {
  const folder = path.join(cacheDir, `onnx-${path.basename(checkpoint, '.safetensors')}`);
  const file = path.join(folder, 'model.onnx');
  if (existsSync(file)) return file;
  const python = findPython();
  const partial = `${folder}.partial`;
  rmSync(partial, { recursive: true, force: true });
  log(`exporting ONNX with ${python} (once; cached in ${path.relative(process.cwd(), folder)})`);
  const script = path.join(packageRoot(), 'bench', 'torch', 'export_onnx.py');
  const r = spawnSync(python, [script, checkpoint, path.join(partial, 'model.onnx'), '--batch', String(batch)], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`ONNX export failed (${python} ${script}: exit ${r.status})`);
  renameSync(partial, folder);
  return file;
}

async function loadOrt() {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    throw new Error(`onnxruntime-node is not installed (a devDependency: run npm install in the repository): ${(err as Error).message}`);
  }
}

const { file, bytes } = randomCheckpoint(config, cacheDir);
const onnxFile = onnxGraph(file);
const ort = await loadOrt();
const session = await ort.InferenceSession.create(onnxFile, {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
});
const model = await loadModel(file, { backend: 'cpu', dtype });

// Same inputs for both: x (B, C, H, W), t (B), y (B) with the null class in the second half.
const input = benchInput(config, batch);
const t = new Float32Array(batch).fill(input.t);
const feeds = {
  x: new ort.Tensor('float32', input.x.data, input.x.shape),
  t: new ort.Tensor('float32', t, [batch]),
  y: new ort.Tensor('int64', BigInt64Array.from(input.y!, BigInt), [batch]),
};
const runSkipdit = () => model.forward({ x: input.x, t, y: input.y });
// Another build of skipdit, loaded through its own lib (so its own addon).
const baseline = values.baseline
  ? await (await import(path.resolve(values.baseline, 'dist', 'lib', 'index.js')) as typeof import('../lib/index.js')).loadModel(file, { backend: 'cpu', dtype })
  : undefined;
const runBaseline = () => baseline!.forward({ x: input.x, t, y: input.y });
const runOrt = async () => (await session.run(feeds)).out.data as Float32Array;

// ---- correctness first
const [ours, theirs] = [(await runSkipdit()).data, await runOrt()];
const error = relativeError(ours, theirs);
log(`DiT-${values.model}/2-skip (random weights, ${(bytes / 2 ** 20).toFixed(0)} MiB fp32), latent 32x32, batch ${batch}, skipdit ${dtype}`);
log(`outputs agree: max|skipdit - ort| / max|ort| = ${error.toExponential(2)} (tolerance ${tolerance})`);
if (dtype !== 'float32' && error < 1e-5) {
  log(`warning: ${dtype} weights should differ from the fp32 graph by about 1e-3; this agreement means the backend ran in fp32`);
}
if (!(error <= tolerance)) {
  console.error(`skipdit and ONNX Runtime disagree (${error} > ${tolerance}): not timing`);
  process.exit(1);
}
let baselineBits = 'n/a';
if (baseline) {
  const base = (await runBaseline()).data;
  const same = base.length === ours.length && Buffer.from(base.buffer, base.byteOffset, base.byteLength).equals(Buffer.from(ours.buffer, ours.byteOffset, ours.byteLength));
  baselineBits = same ? 'identical' : `differs (max rel ${relativeError(ours, base).toExponential(2)})`;
  log(`baseline build ${values.baseline}: output ${baselineBits} to this build's`);
}

// ---- timing, interleaved
const cache = values.cached ? model.createCache({ interval: 1_000_000, branch: 1 }) : undefined;
let cachedBlocks = 0;
const variants: Record<string, () => Promise<unknown>> = { skipdit: runSkipdit, onnxruntime: runOrt };
if (baseline) variants['skipdit baseline'] = runBaseline;
if (cache) variants['skipdit cached k=1'] = async () => { cachedBlocks = (await model.forward({ x: input.x, t, y: input.y }, { cache })).blocksExecuted; };
const times = await interleaved(variants, repeats, 1, 200); // 200 ms apart: ORT's pool spins after a run
const peak = native().measurePeak(0.5);
const rows = Object.entries(times).map(([name, ts]) => {
  const flops = callFlops(config as ModelConfig, batch, name.includes('cached') ? cachedBlocks : config.depth);
  const ms = median(ts);
  // skipdit with bf16 weights is measured against the bf16 dot-product peak; ORT always runs fp32
  const ceiling = name.startsWith('skipdit') ? peakFor(dtype, peak).gflops : peak.gflops;
  return { name, ms, min: Math.min(...ts), gflops: flops / 1e6 / ms, peakPercent: (100 * flops) / 1e6 / ms / ceiling };
});
const ratio = rows[0].ms / rows[1].ms;
log(`FMA peak (measured): ${peak.gflops.toFixed(0)} GFLOP/s fp32, ${peak.threads} threads, ${peak.isa}` +
  (dtype === 'bfloat16' && peak.bf16Gflops > 0 ? `; bf16 dot-product peak ${peak.bf16Gflops.toFixed(0)} GFLOP/s (skipdit's % peak)` : '') +
  `; ORT: ${threads} intra-op threads, sequential\n`);
log(table(
  ['engine', 'median ms', 'min ms', 'GFLOP/s', '% peak'],
  rows.map((r) => [r.name, r.ms.toFixed(1), r.min.toFixed(1), r.gflops.toFixed(1), r.peakPercent.toFixed(0)]),
));
log(`\nskipdit / ORT time: ${ratio.toFixed(2)} (< 1: skipdit faster), ${repeats} interleaved runs each`);
const baselineRow = rows.find((r) => r.name === 'skipdit baseline');
// speed of this build relative to the baseline (> 1: this build faster): baseline median / this build's median
const baselineSpeed = baselineRow ? baselineRow.ms / rows[0].ms : undefined;
if (baselineSpeed !== undefined) log(`this build's speed / the baseline's (median times): ${baselineSpeed.toFixed(3)}`);
if (values.json) {
  console.log(JSON.stringify({ model: values.model, config, batch, dtype, threads, error, tolerance, peak, rows, ratio, baselineSpeed, baselineBits, times }, null, 2));
}
model.dispose();
baseline?.dispose();
await session.release();
