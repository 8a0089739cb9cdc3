// `skipdit bench quality`: speed against fidelity for a list of (sampler, steps, cache policy) settings. Every
// setting generates the same seeds and labels as the reference (an uncached run, default DDIM at the model's
// usual step count); each reports seconds, speedup over the reference, the FLOP-predicted speedup, the latents'
// relative error, PSNR and SSIM of the pictures (the model's own pixels, or decoded by a VAE), and for the bundled
// digits model the k-NN classifier's accuracy. The Pareto front is over (speedup, PSNR).
import { InvalidArgumentError } from './errors.js';
import { markdownTable, median } from './bench.js';
import { Canvas } from './plot.js';
import type { Model } from './model.js';
import { Pipeline, type PipelineSamplerName } from './pipeline.js';
import { psnr, relativeL2, ssim } from './quality-metrics.js';
import type { CachePolicyInput } from './cache.js';
import type { Tensor } from './tensor.js';
import type { Vae } from './vae.js';

export interface QualitySetting {
  sampler: PipelineSamplerName;
  steps: number;
  /** 'none', a preset string ('dit:2:1', 'dit:auto:0.06:4:1', ...) or a policy. */
  cache: 'none' | CachePolicyInput;
}

/** 'ddim:50', 'dpmsolver++:10:dit:auto:0.06:4:1': sampler, steps, then the cache policy string (default none). */
export function parseSetting(text: string): QualitySetting {
  const [sampler, steps, ...cache] = text.trim().split(':');
  if (!['ddim', 'ddpm', 'dpmsolver++'].includes(sampler)) throw InvalidArgumentError.expected('setting sampler', "'ddim', 'ddpm' or 'dpmsolver++'", text);
  const n = Number(steps);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw InvalidArgumentError.expected('setting steps', 'an integer in [1, 1000]', text);
  return { sampler: sampler as PipelineSamplerName, steps: n, cache: cache.length ? (cache.join(':') as CachePolicyInput) : 'none' };
}

export function settingName(s: QualitySetting): string {
  return `${s.sampler === 'dpmsolver++' ? 'DPM++' : s.sampler.toUpperCase()} ${s.steps}${s.cache === 'none' ? '' : ` ${typeof s.cache === 'string' ? s.cache : JSON.stringify(s.cache)}`}`;
}

export interface QualityRow {
  setting: string;
  sampler: string;
  steps: number;
  cache: string;
  fullSteps: number;
  cachedSteps: number;
  seconds: number;
  speedup: number;
  predictedSpeedup: number;
  /** ||latents - reference|| / ||reference|| (L2 over all samples). */
  latentRelError: number;
  /** Of the pictures against the reference's (undefined for a latent model without a VAE). */
  psnr?: number;
  ssim?: number;
  /** The digits classifier's accuracy on the pictures (the bundled model with the mnist package). */
  accuracy?: number;
  /** On the Pareto front of (speedup, PSNR) (or of (speedup, -latent error) without pictures). */
  pareto: boolean;
}

export interface QualityReport {
  reference: string;
  samples: number;
  rows: QualityRow[];
}

export interface QualityOptions {
  model: Model;
  settings: QualitySetting[];
  /** The uncached reference (default: DDIM at 50 steps). */
  reference?: QualitySetting;
  labels?: number[];
  /** Unconditional models: samples per run. */
  batch?: number;
  seed?: number;
  cfgScale?: number;
  /** Decodes latents for PSNR / SSIM. */
  vae?: Vae;
  /** Label of a picture ([0, 1], (C, H, W) of one sample) for an accuracy column. */
  classify?: (picture: Float32Array) => number;
  /** Timed runs per setting (the median is reported; default 1). */
  repeats?: number;
  onRow?: (row: QualityRow) => void;
}

interface Generated {
  samples: Tensor;
  seconds: number;
  flops: number;
  full: number;
  cached: number;
}

/** warmup: one untimed run first (the model's first runs in a process record graphs and size the workspace). */
async function generateOnce(o: QualityOptions, s: QualitySetting, warmup = false): Promise<Generated> {
  const pipe = new Pipeline(o.model, { sampler: s.sampler, steps: s.steps, cfgScale: o.cfgScale, cache: s.cache === 'none' ? false : s.cache });
  const times: number[] = [];
  let samples: Tensor | undefined;
  if (warmup) await pipe.init({ labels: o.labels, batch: o.batch, seed: o.seed ?? 0 }).run();
  for (let r = 0; r < (o.repeats ?? 1); r++) {
    pipe.init({ labels: o.labels, batch: o.batch, seed: o.seed ?? 0 });
    const t0 = performance.now();
    samples = await pipe.run();
    times.push((performance.now() - t0) / 1000);
  }
  const stats = pipe.cacheStats;
  pipe.dispose();
  return { samples: samples!, seconds: median(times), flops: stats.flopsExecuted, full: stats.calls - stats.cachedSteps, cached: stats.cachedSteps };
}

/** A run's pictures in [0, 1]: one Float32Array per sample, each `planes` planes of H x W. */
interface Pictures {
  images: Float32Array[];
  planes: number;
  H: number;
  W: number;
}

/** The samples' pictures: decoded, or the pixel model's own output; undefined for latents without a VAE. */
async function pictures(o: QualityOptions, samples: Tensor): Promise<Pictures | undefined> {
  let images = samples;
  if (o.vae) images = await o.vae.decode(samples);
  else if (o.model.config.in_channels !== 1 && o.model.config.in_channels !== 3) return undefined;
  const [H, W] = images.shape.slice(-2);
  const per = images.data.length / images.shape[0];
  return {
    images: Array.from({ length: images.shape[0] }, (_, i) => images.data.slice(i * per, (i + 1) * per).map((v) => Math.min(1, Math.max(0, (v + 1) / 2)))),
    planes: per / (H * W), H, W,
  };
}

function meanOver<T>(items: T[], f: (item: T, i: number) => number): number {
  return items.reduce((a, item, i) => a + f(item, i), 0) / items.length;
}

/** Marks the rows no other row beats on both speedup and fidelity. */
export function markPareto(rows: QualityRow[]): void {
  const fidelity = (r: QualityRow) => (r.psnr !== undefined ? r.psnr : -r.latentRelError);
  for (const r of rows) r.pareto = !rows.some((o) => o !== r && o.speedup >= r.speedup && fidelity(o) >= fidelity(r) && (o.speedup > r.speedup || fidelity(o) > fidelity(r)));
}

export async function runQualityBench(o: QualityOptions): Promise<QualityReport> {
  if (!Array.isArray(o.settings) || o.settings.length === 0) throw InvalidArgumentError.expected('settings', 'one or more settings', o.settings);
  const reference = o.reference ?? { sampler: 'ddim', steps: 50, cache: 'none' };
  if (reference.cache !== 'none') throw InvalidArgumentError.expected('reference.cache', "'none' (the reference is uncached)", reference.cache);
  const ref = await generateOnce(o, reference, true); // the first runs of the process: warmed up, or every speedup is inflated
  const refPictures = await pictures(o, ref.samples);
  const rows: QualityRow[] = [];
  for (const s of [reference, ...o.settings]) {
    const g = s === reference ? ref : await generateOnce(o, s);
    const pics = g === ref ? refPictures : await pictures(o, g.samples);
    const row: QualityRow = {
      setting: s === reference ? `${settingName(s)} (reference)` : settingName(s), sampler: s.sampler, steps: s.steps,
      cache: s.cache === 'none' ? 'none' : typeof s.cache === 'string' ? s.cache : JSON.stringify(s.cache),
      fullSteps: g.full, cachedSteps: g.cached, seconds: g.seconds, speedup: ref.seconds / g.seconds, predictedSpeedup: ref.flops / g.flops,
      latentRelError: relativeL2(g.samples.data, ref.samples.data), pareto: false,
    };
    if (pics && refPictures) {
      const { images, planes, H, W } = pics;
      const plane = (p: Float32Array, c: number) => p.subarray(c * H * W, (c + 1) * H * W);
      row.psnr = meanOver(images, (p, i) => psnr(p, refPictures.images[i]));
      row.ssim = meanOver(images, (p, i) => meanOver(Array.from({ length: planes }, (_, c) => c), (c) => ssim(plane(p, c), plane(refPictures.images[i], c), W, H)));
      if (o.classify && o.labels) row.accuracy = meanOver(images, (p, i) => (o.classify!(p) === o.labels![i] ? 1 : 0));
    }
    rows.push(row);
    o.onRow?.(row);
  }
  markPareto(rows);
  return { reference: settingName(reference), samples: ref.samples.shape[0], rows };
}

export function formatQualityTable(r: QualityReport): string {
  const head = ['#', 'setting', 'full/cached', 'seconds', 'speedup', 'predicted', 'PSNR dB', 'SSIM', 'latent L2 err', ...(r.rows.some((x) => x.accuracy !== undefined) ? ['accuracy'] : []), 'Pareto'];
  const lines = r.rows.map((x, i) => [
    String(i), x.setting, `${x.fullSteps}/${x.cachedSteps}`, x.seconds.toFixed(3), `${x.speedup.toFixed(2)}x`, `${x.predictedSpeedup.toFixed(2)}x`,
    x.psnr === undefined ? '-' : Number.isFinite(x.psnr) ? x.psnr.toFixed(2) : 'inf', x.ssim === undefined ? '-' : x.ssim.toFixed(4), x.latentRelError.toExponential(2),
    ...(x.accuracy === undefined ? (head.includes('accuracy') ? ['-'] : []) : [`${(100 * x.accuracy).toFixed(1)}%`]), x.pareto ? '*' : '',
  ]);
  return markdownTable(head, lines);
}

// ---- the plot: speedup (x) against PSNR (y), a point per setting labelled with its row number, the Pareto front joined

/** A PNG: speedup (x) against PSNR (y); DDIM blue, DPM-Solver++ red; squares uncached, circles fixed Skip-Cache, triangles adaptive; the Pareto front in green. */
export function qualityPlotPng(r: QualityReport, width = 720, height = 480): Buffer {
  const canvas = new Canvas(width, height);
  const { line, text } = canvas;
  const set = canvas.set;
  const rows = r.rows.map((row, i) => ({ row, i, y: row.psnr !== undefined && Number.isFinite(row.psnr) ? row.psnr : undefined })).filter((p) => p.y !== undefined);
  const L = 60, R = width - 20, T = 20, Bm = height - 50;
  const xs = rows.map((p) => p.row.speedup), ys = rows.map((p) => p.y!);
  const xMax = Math.max(1, ...xs) * 1.08, yMin = Math.floor(Math.min(...ys, 20) - 1), yMax = Math.ceil(Math.max(...ys, yMin + 5) + 1);
  const px = (v: number) => L + ((R - L) * v) / xMax, py = (v: number) => Bm - ((Bm - T) * (v - yMin)) / (yMax - yMin);
  const grey: [number, number, number] = [200, 200, 200];
  for (let v = 0; v <= xMax; v += xMax > 8 ? 2 : 1) {
    line(px(v), T, px(v), Bm, grey);
    text(`${v}x`, px(v) - 6, Bm + 6);
  }
  const yStep = yMax - yMin > 20 ? 5 : 2;
  for (let v = Math.ceil(yMin / yStep) * yStep; v <= yMax; v += yStep) {
    line(L, py(v), R, py(v), grey);
    text(String(v), L - 8 - 6 * String(v).length, py(v) - 3);
  }
  line(L, Bm, R, Bm, [0, 0, 0]);
  line(L, T, L, Bm, [0, 0, 0]);
  text('speedup (x)', (L + R) / 2 - 33, height - 22, [0, 0, 0], 1);
  text('PSNR (dB)', 4, 4);
  const front = rows.filter((p) => p.row.pareto).sort((a, b) => a.row.speedup - b.row.speedup);
  for (let k = 1; k < front.length; k++) {
    for (const d of [-1, 0, 1]) line(px(front[k - 1].row.speedup), py(front[k - 1].y!) + d, px(front[k].row.speedup), py(front[k].y!) + d, [40, 170, 60]);
  }
  // legend: colour = sampler, shape = cache
  const mark = (cx: number, cy: number, shape: 'none' | 'fixed' | 'adaptive', c: [number, number, number]) => {
    for (let dy = -5; dy <= 5; dy++)
      for (let dx = -5; dx <= 5; dx++) {
        const inside = shape === 'fixed' ? dx * dx + dy * dy <= 25 : shape === 'adaptive' ? dy >= -5 && Math.abs(dx) <= (dy + 5) / 2 : Math.abs(dx) <= 4 && Math.abs(dy) <= 4;
        if (inside) set(cx + dx, cy + dy, c);
      }
  };
  const blue: [number, number, number] = [40, 80, 210], red: [number, number, number] = [210, 40, 40], black: [number, number, number] = [0, 0, 0];
  let lx = R - 330;
  for (const [label, c] of [['DDIM', blue], ['DPM++', red]] as const) {
    mark(lx, T + 8, 'none', c);
    text(label, lx + 9, T + 5, c);
    lx += 12 + 6 * label.length + 14;
  }
  for (const [label, shape] of [['no cache', 'none'], ['fixed N', 'fixed'], ['auto', 'adaptive']] as const) {
    mark(lx, T + 8, shape, black);
    text(label, lx + 9, T + 5);
    lx += 12 + 6 * label.length + 14;
  }
  text('Pareto front', R - 330, T + 22, [40, 170, 60]);
  for (const { row, i, y } of rows) {
    const c = row.sampler === 'dpmsolver++' ? red : blue;
    const cx = px(row.speedup), cy = py(y!);
    const adaptive = /auto|adaptive/.test(row.cache);
    mark(cx, cy, row.cache === 'none' ? 'none' : adaptive ? 'adaptive' : 'fixed', c);
    text(`${i}`, cx + 7, cy - 10, c);
  }
  return canvas.png();
}
