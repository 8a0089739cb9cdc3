// The official diffusion schedule (IDDPM/ADM `diffusion/` package as used by DiT, Latte and Skip-DiT):
// linear betas over 1000 steps, respacing, and the float64 tables every sampler reads. Tables stay float64
// here; samplers cast each value to float32 at use, like `_extract_into_tensor`.
import { InvalidArgumentError } from './errors.js';

export const BASE_TIMESTEPS = 1000;

/** numpy.linspace(1e-4, 0.02, 1000) (get_named_beta_schedule('linear') with scale 1). */
export function linearBetas(n = BASE_TIMESTEPS): Float64Array {
  const scale = 1000 / n;
  const start = scale * 0.0001, stop = scale * 0.02;
  const step = (stop - start) / (n - 1);
  const betas = new Float64Array(n);
  for (let i = 0; i < n; i++) betas[i] = i * step + start;
  betas[n - 1] = stop;
  return betas;
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * space_timesteps(num_timesteps, section_counts): "S" or "S1,S2,..." (equal sections, each with that many
 * evenly strided steps, strides accumulated as floats and rounded half-even) or "ddimS" (a fixed integer
 * stride). Returns the kept original timesteps, ascending.
 */
export function spaceTimesteps(numTimesteps: number, sectionCounts: string | number): number[] {
  const spec = String(sectionCounts);
  if (spec.startsWith('ddim')) {
    const desired = Number(spec.slice(4));
    for (let stride = 1; stride < numTimesteps; stride++) {
      const steps = [];
      for (let t = 0; t < numTimesteps; t += stride) steps.push(t);
      if (steps.length === desired) return steps;
    }
    throw InvalidArgumentError.expected('steps', `a DDIM step count reachable with an integer stride of ${numTimesteps}`, spec);
  }
  const counts = spec.split(',').map(Number);
  if (counts.some((c) => !Number.isInteger(c) || c < 1)) throw InvalidArgumentError.expected('steps', 'a positive integer or comma-separated section counts', spec);
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  const kept = new Set<number>();
  let startIdx = 0;
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw InvalidArgumentError.expected('steps', `at most ${size} steps in section ${i}`, count);
    const fracStride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0;
    for (let k = 0; k < count; k++) {
      kept.add(startIdx + roundHalfEven(cur));
      cur += fracStride;
    }
    startIdx += size;
  });
  return [...kept].sort((a, b) => a - b);
}

/** The tables of a (respaced) GaussianDiffusion, indexed by the respaced index i = 0..S-1. */
export interface DiffusionTables {
  /** Original timestep of each respaced index (timestep_map). */
  timestepMap: number[];
  betas: Float64Array;
  logBetas: Float64Array;
  alphasCumprod: Float64Array;
  alphasCumprodPrev: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
  posteriorVariance: Float64Array;
  posteriorLogVarianceClipped: Float64Array;
  posteriorMeanCoef1: Float64Array;
  posteriorMeanCoef2: Float64Array;
  /** FIXED_LARGE variance: append(posterior_variance[1], betas[1:]) and its log. */
  fixedLargeLogVariance: Float64Array;
}

/** create_diffusion(timestep_respacing): linear betas, respaced to the given steps, tables recomputed in float64. */
export function createDiffusion(respacing: string | number): DiffusionTables {
  const base = linearBetas();
  const acpBase = new Float64Array(base.length);
  let prod = 1;
  base.forEach((b, i) => (acpBase[i] = prod *= 1 - b));
  const use = new Set(spaceTimesteps(BASE_TIMESTEPS, respacing));
  const betasList: number[] = [];
  const timestepMap: number[] = [];
  let last = 1.0;
  acpBase.forEach((acp, i) => {
    if (use.has(i)) {
      betasList.push(1 - acp / last);
      last = acp;
      timestepMap.push(i);
    }
  });
  const n = betasList.length;
  const betas = Float64Array.from(betasList);
  const map = (fn: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => fn(i));
  const alphasCumprod = new Float64Array(n);
  prod = 1;
  betas.forEach((b, i) => (alphasCumprod[i] = prod *= 1 - b));
  const alphasCumprodPrev = map((i) => (i === 0 ? 1 : alphasCumprod[i - 1]));
  const posteriorVariance = map((i) => (betas[i] * (1 - alphasCumprodPrev[i])) / (1 - alphasCumprod[i]));
  const clippedFirst = n > 1 ? posteriorVariance[1] : posteriorVariance[0];
  return {
    timestepMap,
    betas,
    logBetas: map((i) => Math.log(betas[i])),
    alphasCumprod,
    alphasCumprodPrev,
    sqrtRecipAlphasCumprod: map((i) => Math.sqrt(1 / alphasCumprod[i])),
    sqrtRecipm1AlphasCumprod: map((i) => Math.sqrt(1 / alphasCumprod[i] - 1)),
    posteriorVariance,
    posteriorLogVarianceClipped: map((i) => Math.log(i === 0 ? clippedFirst : posteriorVariance[i])),
    posteriorMeanCoef1: map((i) => (betas[i] * Math.sqrt(alphasCumprodPrev[i])) / (1 - alphasCumprod[i])),
    posteriorMeanCoef2: map((i) => ((1 - alphasCumprodPrev[i]) * Math.sqrt(1 - betas[i])) / (1 - alphasCumprod[i])),
    fixedLargeLogVariance: map((i) => Math.log(i === 0 ? clippedFirst : betas[i])),
  };
}
