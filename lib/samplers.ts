// DDIM and DDPM samplers with the official float32 arithmetic: every table value is a float64 cast to
// float32, and every tensor operation of the official code is rounded to float32 in the same order
// (Math.fround after each op), so trajectories match PyTorch to float32 rounding.
import type { NativeSamplerUpdate } from '../binding.js';
import { createDiffusion, type DiffusionTables } from './diffusion.js';
import { FLOAT32_MAX, InvalidArgumentError, isFloat32 } from './errors.js';
import type { Tensor } from './tensor.js';

const f = Math.fround;

export type SamplerName = 'ddim' | 'ddpm';
/** DDPM variance: learned_range (learn_sigma models), fixed_large (the official default otherwise), fixed_small. */
export type VarianceType = 'learned_range' | 'fixed_large' | 'fixed_small';

export interface SamplerStepResult {
  /** x_{t-1}, the next sample (shape of `sample`). */
  prevSample: Float32Array;
  /** x_0 prediction. */
  predXstart: Float32Array;
  /** DDPM only: the posterior mean and log-variance (p_mean_variance outputs). */
  mean?: Float32Array;
  logVariance?: Float32Array;
}

/** The per-step scalars of a sampler update: the schedule's part, computed here; the elementwise part runs in step() or natively. */
export type SamplerCoefficients = Exclude<NativeSamplerUpdate, { kind: 'ddim-diffusers' | 'ddpm-diffusers' }>;
export type DDIMCoefficients = Extract<SamplerCoefficients, { kind: 'ddim' }>;
export type DDPMCoefficients = Extract<SamplerCoefficients, { kind: 'ddpm' }>;

/**
 * Locates eps (and the variance values) inside a model output. The output has the sample's shape with the
 * channel axis doubled when the model learns sigma (DiT: axis 1, Latte: axis 2).
 */
function splitOutput(output: Tensor, sample: Tensor): { eps: (i: number) => number; v: ((i: number) => number) | null } {
  const s = sample.shape, o = output.shape;
  if (o.length !== s.length) throw InvalidArgumentError.expected('modelOutput.shape', `${s.length} dimensions like the sample`, o);
  const axis = o.findIndex((d, i) => d !== s[i]);
  if (axis === -1) return { eps: (i) => output.data[i], v: null };
  if (o[axis] !== 2 * s[axis] || o.some((d, i) => i !== axis && d !== s[i])) {
    throw InvalidArgumentError.expected('modelOutput.shape', `the sample shape [${s.join(', ')}] with one channel axis doubled`, o);
  }
  const C = s[axis];
  const inner = s.slice(axis + 1).reduce((a, b) => a * b, 1);
  const index = (i: number, half: number) => {
    const outer = Math.floor(i / (C * inner)), rest = i % (C * inner);
    return (outer * 2 + half) * C * inner + rest;
  };
  return { eps: (i) => output.data[index(i, 0)], v: (i) => output.data[index(i, 1)] };
}

abstract class BaseSampler {
  readonly tables: DiffusionTables;
  /** Number of sampling steps (model calls). */
  readonly steps: number;
  /** Original timesteps in call order (999 ... 0): what the model is called with. */
  readonly timesteps: number[];

  constructor(steps: number | string) {
    this.tables = createDiffusion(steps);
    this.steps = this.tables.timestepMap.length;
    this.timesteps = [...this.tables.timestepMap].reverse();
  }

  /** Respaced table index of call `index` (S-1 ... 0). */
  tableIndex(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.steps) {
      throw InvalidArgumentError.expected('index', `a step index in [0, ${this.steps - 1}]`, index);
    }
    return this.steps - 1 - index;
  }

  /** Whether step(index) uses a noise tensor (DDPM except the last step, DDIM with eta > 0). */
  abstract needsNoise(index: number): boolean;

  /** The float32 scalars of step(index): what the elementwise update (here or native) combines. */
  abstract coefficients(index: number): SamplerCoefficients;

  /** One sampler step from the model output at call `index` (0 = first call, t = timesteps[0]). */
  abstract step(modelOutput: Tensor, index: number, sample: Tensor, noise?: Float32Array): SamplerStepResult;

  protected predictXstart(c: SamplerCoefficients, sample: Tensor, eps: (k: number) => number): Float32Array {
    const a = c.sqrtRecipAlphasCumprod, b = c.sqrtRecipm1AlphasCumprod;
    const x = sample.data;
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) out[k] = f(f(a * x[k]) - f(b * eps(k)));
    return out;
  }

  protected checkNoise(noise: Float32Array | undefined, n: number, index: number): Float32Array {
    if (!(noise instanceof Float32Array) || noise.length !== n) {
      throw InvalidArgumentError.expected('noise', `a Float32Array of ${n} values for step ${index}`, noise);
    }
    return noise;
  }
}

/** DDIM (ddim_sample): deterministic for eta = 0. */
export class DDIMSampler extends BaseSampler {
  readonly eta: number;

  constructor(steps: number | string, options: { eta?: number } = {}) {
    super(steps);
    const eta = options.eta ?? 0;
    if (!isFloat32(eta) || !(eta >= 0)) throw InvalidArgumentError.expected('eta', `a number in [0, ${FLOAT32_MAX}] (finite as a float32)`, eta);
    this.eta = eta;
    // eta > 1 can make sigma^2 exceed 1 - alpha_prev on this schedule: sqrt of a negative, NaN samples.
    for (let j = 0; j < this.steps; j++) {
      if (Number.isNaN(this.coefficients(j).dirCoef)) throw InvalidArgumentError.expected('eta', `a value with sigma^2 <= 1 - alpha_prev at every step (at most 1 always is)`, eta);
    }
  }

  needsNoise(): boolean {
    return this.eta > 0;
  }

  coefficients(index: number): DDIMCoefficients {
    const i = this.tableIndex(index);
    const T = this.tables;
    const ab = f(T.alphasCumprod[i]), abp = f(T.alphasCumprodPrev[i]);
    // sigma = eta * sqrt((1 - abp) / (1 - ab)) * sqrt(1 - ab / abp)
    const sigma = f(f(f(this.eta) * f(Math.sqrt(f(f(1 - abp) / f(1 - ab))))) * f(Math.sqrt(f(1 - f(ab / abp)))));
    return {
      kind: 'ddim',
      sqrtRecipAlphasCumprod: f(T.sqrtRecipAlphasCumprod[i]),
      sqrtRecipm1AlphasCumprod: f(T.sqrtRecipm1AlphasCumprod[i]),
      sqrtAlphasCumprodPrev: f(Math.sqrt(abp)),
      dirCoef: f(Math.sqrt(f(f(1 - abp) - f(sigma * sigma)))),
      noiseScale: i !== 0 ? sigma : 0,
    };
  }

  step(modelOutput: Tensor, index: number, sample: Tensor, noise?: Float32Array): SamplerStepResult {
    const c = this.coefficients(index);
    const { eps } = splitOutput(modelOutput, sample);
    const x = sample.data;
    const x0 = this.predictXstart(c, sample, eps);
    const { sqrtRecipAlphasCumprod: sra, sqrtRecipm1AlphasCumprod: srm1, sqrtAlphasCumprodPrev: sqrtAbp, dirCoef, noiseScale } = c;
    if (noiseScale !== 0) noise = this.checkNoise(noise, x.length, index);
    const out = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      const e = f(f(f(sra * x[k]) - x0[k]) / srm1); // _predict_eps_from_xstart
      const mean = f(f(x0[k] * sqrtAbp) + f(dirCoef * e));
      out[k] = noiseScale !== 0 ? f(mean + f(noiseScale * noise![k])) : mean;
    }
    return { prevSample: out, predXstart: x0 };
  }
}

/** DDPM ancestral sampling (p_sample) with learned-range or fixed variances. */
export class DDPMSampler extends BaseSampler {
  readonly variance: VarianceType;

  constructor(steps: number | string, options: { variance?: VarianceType } = {}) {
    super(steps);
    const v = options.variance ?? 'learned_range';
    if (!['learned_range', 'fixed_large', 'fixed_small'].includes(v)) {
      throw InvalidArgumentError.expected('variance', "'learned_range', 'fixed_large' or 'fixed_small'", v);
    }
    this.variance = v;
  }

  needsNoise(index: number): boolean {
    return this.tableIndex(index) !== 0;
  }

  coefficients(index: number): DDPMCoefficients {
    const i = this.tableIndex(index);
    const T = this.tables;
    return {
      kind: 'ddpm',
      sqrtRecipAlphasCumprod: f(T.sqrtRecipAlphasCumprod[i]),
      sqrtRecipm1AlphasCumprod: f(T.sqrtRecipm1AlphasCumprod[i]),
      meanCoef1: f(T.posteriorMeanCoef1[i]),
      meanCoef2: f(T.posteriorMeanCoef2[i]),
      minLog: f(T.posteriorLogVarianceClipped[i]),
      maxLog: f(T.logBetas[i]),
      fixedLog: f(this.variance === 'fixed_large' ? T.fixedLargeLogVariance[i] : T.posteriorLogVarianceClipped[i]),
      learnedRange: this.variance === 'learned_range',
      last: i === 0,
    };
  }

  step(modelOutput: Tensor, index: number, sample: Tensor, noise?: Float32Array): SamplerStepResult {
    const c = this.coefficients(index);
    const { eps, v } = splitOutput(modelOutput, sample);
    if (c.learnedRange && !v) {
      throw InvalidArgumentError.expected('modelOutput', "2x channels for variance 'learned_range' (use 'fixed_large' for models without learn_sigma)", modelOutput.shape);
    }
    const x = sample.data;
    const x0 = this.predictXstart(c, sample, eps);
    const { meanCoef1: c1, meanCoef2: c2, minLog, maxLog, fixedLog, last } = c;
    if (!last) noise = this.checkNoise(noise, x.length, index);
    const prev = new Float32Array(x.length), mean = new Float32Array(x.length), logVar = new Float32Array(x.length);
    for (let k = 0; k < x.length; k++) {
      let lv = fixedLog;
      if (c.learnedRange) {
        const frac = f(f(v!(k) + 1) / 2);
        lv = f(f(frac * maxLog) + f(f(1 - frac) * minLog));
      }
      const m = f(f(c1 * x0[k]) + f(c2 * x[k]));
      mean[k] = m;
      logVar[k] = lv;
      // sample = mean + nonzero_mask * exp(0.5 * log_variance) * noise
      prev[k] = last ? m : f(m + f(f(Math.exp(f(0.5 * lv))) * noise![k]));
    }
    return { prevSample: prev, predXstart: x0, mean, logVariance: logVar };
  }
}

export type Sampler = DDIMSampler | DDPMSampler;

export function createSampler(name: SamplerName, steps: number | string, options: { eta?: number; variance?: VarianceType } = {}): Sampler {
  if (name === 'ddim') return new DDIMSampler(steps, { eta: options.eta });
  if (name === 'ddpm') return new DDPMSampler(steps, { variance: options.variance });
  throw InvalidArgumentError.expected('sampler', "'ddim' or 'ddpm'", name);
}
