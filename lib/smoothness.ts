// `skipdit bench smoothness`: the feature-smoothness probe of the Skip-DiT paper, as a harness mode.
//
// The paper (arXiv 2411.17616, "Feature smoothness"): normalized disturbances with strength coefficients alpha
// and beta are added to the model's input at chosen sampling steps (steps 10 and 250 of DDPM), and the
// similarity of the perturbed features to the original ones is drawn as a surface over (alpha, beta), for the
// model with and without skip branches. The paper gives no formula; skipdit's reading, documented in
// docs/sampling.md:
// - the input is a sampling trajectory's state x_t (the pipeline's, same seed and labels for every model);
// - two Gaussian directions d1, d2 per sample, each scaled to the norm of that sample's x_t (the "normalized"
//   disturbance: alpha = 0.1 moves x_t by 10% of its norm along d1); the same directions for every model;
// - x' = x_t + alpha d1 + beta d2 on an n x n grid of (alpha, beta) in [-radius, radius]^2;
// - the features are every block's output (the `blocks_out` taps); the "deep feature" is the hidden state that
//   Skip-Cache reuses (entering block depth-1: block depth-2's output); the similarity is the cosine over the
//   hidden size per token, averaged over tokens and samples.
// It also reports, along the same trajectory, the cosine similarity of the deep feature between consecutive
// steps (what the official Latte code logs): how much a cached step's reused feature differs from a fresh one.
import { markdownTable } from './bench.js';
import { InvalidArgumentError } from './errors.js';
import type { Model } from './model.js';
import { Pipeline, type PipelineSamplerName } from './pipeline.js';
import { Canvas, type RGB } from './plot.js';
import { gaussianNoise } from './random.js';
import type { Tensor } from './tensor.js';

export interface SmoothnessModel {
  name: string;
  model: Model;
}

export interface SmoothnessOptions {
  models: SmoothnessModel[];
  /** The trajectory's sampler and steps (default DDPM 250, the paper's). */
  sampler?: PipelineSamplerName;
  steps?: number;
  /** Steps to probe, 1-based (default [10, steps], the paper's 10 and 250). */
  at?: number[];
  /** Largest |alpha|, |beta| (default 0.2). */
  radius?: number;
  /** Grid points per axis (odd, so that (0, 0) is on it; default 9). */
  grid?: number;
  /** One label per sample (conditional models); the batch is its length. */
  labels?: number[];
  /** Unconditional models: samples. */
  batch?: number;
  seed?: number;
  cfgScale?: number;
  signal?: AbortSignal;
}

export interface SmoothnessProbe {
  /** 1-based step of the trajectory and its timestep. */
  step: number;
  t: number;
  /** Per block: the mean over the grid of the cosine similarity of its output to the unperturbed one. */
  blockMean: number[];
  /** The deep feature's similarity surface, [alpha index][beta index] (alphas[i], betas[j]). */
  deepSurface: number[][];
  deepMean: number;
  deepMin: number;
  /** The last block's output (the final layer's input), mean and minimum over the grid. */
  finalMean: number;
  finalMin: number;
}

export interface SmoothnessRow {
  name: string;
  skip: boolean;
  depth: number;
  probes: SmoothnessProbe[];
  /** Cosine similarity of the deep feature between consecutive steps (steps 2..S: step s against s-1). */
  temporal: number[];
  temporalMean: number;
  temporalMin: number;
}

export interface SmoothnessReport {
  sampler: string;
  steps: number;
  at: number[];
  radius: number;
  alphas: number[];
  samples: number;
  rows: SmoothnessRow[];
}

/**
 * Mean over rows of the cosine similarity of a[r] and b[r], rows of `width` values (tokens x hidden size: per-token
 * cosine). A row that is zero in either gives 1 if both are zero, else 0.
 */
export function meanRowCosine(a: ArrayLike<number>, b: ArrayLike<number>, width: number): number {
  if (a.length !== b.length || width < 1 || a.length % width !== 0) throw InvalidArgumentError.expected('rows', `two arrays of equal length, a multiple of ${width}`, `${a.length} and ${b.length}`);
  const rows = a.length / width;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let i = r * width; i < (r + 1) * width; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    sum += na === 0 || nb === 0 ? (na === nb ? 1 : 0) : dot / Math.sqrt(na * nb);
  }
  return sum / rows;
}

/** A Gaussian direction per sample (rows of `per` values), scaled to the L2 norm of that sample of x. */
export function normalizedDirection(x: ArrayLike<number>, per: number, seed: number, stream: number): Float32Array {
  const d = gaussianNoise(x.length, seed, stream);
  for (let s = 0; s < x.length / per; s++) {
    let nx = 0, nd = 0;
    for (let i = s * per; i < (s + 1) * per; i++) {
      nx += x[i] * x[i];
      nd += d[i] * d[i];
    }
    const k = nd > 0 ? Math.sqrt(nx / nd) : 0;
    for (let i = s * per; i < (s + 1) * per; i++) d[i] *= k;
  }
  return d;
}

/** [-radius, ..., radius], n points. */
export function gridAxis(radius: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : (radius * (2 * i - (n - 1))) / (n - 1)));
}

/** The `blocks_out` tap of a forward: (depth, B, T, D) as one Float32Array per block. */
async function blockOutputs(model: Model, x: Tensor, t: number, y: number[] | undefined, signal?: AbortSignal): Promise<{ blocks: Float32Array[]; width: number }> {
  const r = await model.forward({ x, t, y }, { taps: true, signal });
  const tap = r.taps?.blocks_out;
  if (!tap) throw new InvalidArgumentError(`the ${model.config.family} family records no blocks_out taps: the smoothness probe needs them`);
  const depth = model.config.depth;
  const per = tap.data.length / depth;
  return { blocks: Array.from({ length: depth }, (_, i) => tap.data.subarray(i * per, (i + 1) * per)), width: tap.shape[tap.shape.length - 1] };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export async function runSmoothnessProbe(o: SmoothnessOptions): Promise<SmoothnessReport> {
  if (!Array.isArray(o.models) || o.models.length === 0) throw InvalidArgumentError.expected('models', 'one or more { name, model }', o.models);
  const sampler = o.sampler ?? 'ddpm', steps = o.steps ?? 250;
  const at = [...new Set(o.at ?? [Math.min(10, steps), steps])].sort((a, b) => a - b);
  for (const s of at) if (!Number.isInteger(s) || s < 1 || s > steps) throw InvalidArgumentError.expected('at', `steps in [1, ${steps}]`, o.at);
  const radius = o.radius ?? 0.2, grid = o.grid ?? 9;
  if (!(radius > 0 && radius <= 10)) throw InvalidArgumentError.expected('radius', 'a number in (0, 10]', o.radius);
  if (!Number.isInteger(grid) || grid < 1 || grid > 65 || grid % 2 === 0) throw InvalidArgumentError.expected('grid', 'an odd integer in [1, 65]', o.grid);
  const alphas = gridAxis(radius, grid);
  const seed = o.seed ?? 0;
  const rows: SmoothnessRow[] = [];
  let samples = 0;
  for (const { name, model } of o.models) {
    const c = model.config;
    // DiT only: its blocks_out taps are (B, T, D) in block order (Latte's alternate two token layouts)
    if (c.family !== 'dit') throw InvalidArgumentError.expected(`models[${name}].family`, "'dit' (the probe reads the DiT blocks' outputs)", c.family);
    if (c.depth < 2) throw InvalidArgumentError.expected(`models[${name}].depth`, 'at least 2 blocks', c.depth);
    const labels = c.num_classes > 0 ? o.labels : undefined;
    const pipe = new Pipeline(model, { sampler, steps, cfgScale: o.cfgScale, cache: false });
    const probes: SmoothnessProbe[] = [];
    const temporal: number[] = [];
    let previousDeep: Float32Array | undefined;
    try {
      pipe.init({ labels, batch: labels ? undefined : o.batch, seed });
      for (let i = 0; i < steps; i++) {
        const x = pipe.samples;
        const t = pipe.timesteps[i];
        samples = x.shape[0];
        const base = await blockOutputs(model, x, t, labels, o.signal);
        const deep = base.blocks[c.depth - 2];
        if (previousDeep) temporal.push(meanRowCosine(deep, previousDeep, base.width));
        previousDeep = Float32Array.from(deep);
        if (at.includes(i + 1)) {
          // the same directions for every model: seeded by the probe's seed and step only
          const per = x.data.length / x.shape[0];
          const d1 = normalizedDirection(x.data, per, seed + 1, 2 * (i + 1)), d2 = normalizedDirection(x.data, per, seed + 1, 2 * (i + 1) + 1);
          const blockSums = new Array<number>(c.depth).fill(0);
          const deepSurface: number[][] = [];
          const finals: number[] = [];
          for (const a of alphas) {
            const rowOfSurface: number[] = [];
            for (const b of alphas) {
              const xp = Float32Array.from(x.data, (v, k) => v + a * d1[k] + b * d2[k]);
              const p = await blockOutputs(model, { data: xp, shape: x.shape }, t, labels, o.signal);
              const sims = p.blocks.map((blk, k) => meanRowCosine(blk, base.blocks[k], base.width));
              sims.forEach((s, k) => (blockSums[k] += s));
              rowOfSurface.push(sims[c.depth - 2]);
              finals.push(sims[c.depth - 1]);
            }
            deepSurface.push(rowOfSurface);
          }
          const flat = deepSurface.flat();
          probes.push({
            step: i + 1, t, blockMean: blockSums.map((s) => s / (grid * grid)), deepSurface,
            deepMean: mean(flat), deepMin: Math.min(...flat), finalMean: mean(finals), finalMin: Math.min(...finals),
          });
        }
        await pipe.step({ signal: o.signal });
      }
    } finally {
      pipe.dispose();
    }
    rows.push({ name, skip: c.skip, depth: c.depth, probes, temporal, temporalMean: mean(temporal), temporalMin: Math.min(...temporal) });
  }
  return { sampler, steps, at, radius, alphas, samples, rows };
}

export function formatSmoothnessTable(r: SmoothnessReport): string {
  const head = ['model', 'skip', 'step', 't', 'deep cos mean', 'deep cos min', 'final cos mean', 'per block (mean)', 'step-to-step deep cos (mean / min)'];
  const lines = r.rows.flatMap((row) => row.probes.map((p) => [
    row.name, row.skip ? 'yes' : 'no', String(p.step), String(Math.round(p.t)), p.deepMean.toFixed(4), p.deepMin.toFixed(4), p.finalMean.toFixed(4),
    p.blockMean.map((v) => v.toFixed(3)).join(' '), `${row.temporalMean.toFixed(4)} / ${row.temporalMin.toFixed(4)}`,
  ]));
  return markdownTable(head, lines);
}

/** 1 - cos on a log scale from 1e-5 (white) to 1 (dark red). */
function heatColor(oneMinusCos: number): RGB {
  const v = Math.min(1, Math.max(0, (Math.log10(Math.max(oneMinusCos, 1e-5)) + 5) / 5));
  return [Math.round(255 - 120 * v), Math.round(255 - 255 * v), Math.round(255 - 235 * v)];
}

/**
 * A PNG: one heatmap per (model, probed step) of the deep feature's 1 - cos over the (alpha, beta) grid, models in
 * rows and steps in columns, on one log colour scale (the legend under them).
 */
export function smoothnessPlotPng(r: SmoothnessReport, cell = 16): Buffer {
  const n = r.alphas.length, side = n * cell, pad = 24, left = 130, top = 40;
  const width = Math.max(500, left + r.at.length * (side + pad) + 20), height = top + r.rows.length * (side + pad + 14) + 60;
  const canvas = new Canvas(width, height);
  canvas.text('deep feature: 1 - cos(perturbed, original) over alpha (rows) x beta (columns)', 8, 8);
  r.at.forEach((s, j) => canvas.text(`step ${s}`, left + j * (side + pad), top - 14));
  r.rows.forEach((row, i) => {
    const y0 = top + i * (side + pad + 14);
    canvas.text(row.name.slice(0, 20), 8, y0 + side / 2 - 8);
    canvas.text(row.skip ? 'skip' : 'no skip', 8, y0 + side / 2 + 4, [90, 90, 90]);
    row.probes.forEach((p, j) => {
      const x0 = left + j * (side + pad);
      p.deepSurface.forEach((line, a) => line.forEach((cos, b) => canvas.rect(x0 + b * cell, y0 + a * cell, cell, cell, heatColor(1 - cos))));
      canvas.text(`mean ${p.deepMean.toFixed(4)}`, x0, y0 + side + 3, [60, 60, 60]);
    });
  });
  const ly = height - 36;
  for (let k = 0; k <= 200; k++) canvas.rect(left + k, ly, 1, 10, heatColor(10 ** (-5 + (5 * k) / 200)));
  ['1e-5', '1e-4', '1e-3', '1e-2', '0.1', '1'].forEach((label, k) => canvas.text(label, left + k * 40 - 6, ly + 14));
  canvas.text('1 - cos', 8, ly + 1);
  return canvas.png();
}
