// diffusers' DDIMScheduler (0.24.0) as the official text-to-video pipeline (sample_t2v.py) uses it, eta 0.
// This is NOT the ADM respaced DDIM of samplers.ts (class-conditional DiT/Latte): different timesteps
// (timestep_spacing), prev = t - T // S, and alphas_cumprod as torch computes it on CPU in float32.
// Every scalar and elementwise op is rounded to float32 in the order torch runs it (Math.fround).
import type { NativeSamplerUpdate } from '../binding.js';
import { InvalidArgumentError } from './errors.js';

const f = Math.fround;

export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';

/** The DDIMScheduler options (camelCase of diffusers' scheduler_config.json keys). */
export interface DiffusersDDIMConfig {
  /** num_train_timesteps, default 1000. */
  numTrainTimesteps?: number;
  /** beta_start, default 0.0001. */
  betaStart?: number;
  /** beta_end, default 0.02. */
  betaEnd?: number;
  /** beta_schedule: only 'linear'. */
  betaSchedule?: 'linear';
  /** clip_sample, default false (sample_t2v.py passes false; diffusers' own default is true). */
  clipSample?: boolean;
  /** clip_sample_range, default 1. */
  clipSampleRange?: number;
  /** set_alpha_to_one, default true. */
  setAlphaToOne?: boolean;
  /** steps_offset, default 0. */
  stepsOffset?: number;
  /** prediction_type: only 'epsilon'. */
  predictionType?: 'epsilon';
  /** timestep_spacing, default 'leading'. */
  timestepSpacing?: TimestepSpacing;
}

export interface DiffusersDDIMStepResult {
  /** x_{t-1} (prev_sample). */
  prevSample: Float32Array;
  /** x_0 prediction (pred_original_sample), after clipping if clipSample. */
  predOriginalSample: Float32Array;
}

/** The float32 scalars of one step: x0 = (x - sqrtOneMinusAlphaT·eps) / sqrtAlphaT; x' = sqrtAlphaPrev·x0 + sqrtOneMinusAlphaPrev·eps. */
export interface DiffusersDDIMCoefficients extends Extract<NativeSamplerUpdate, { kind: 'ddim-diffusers' }> {
  timestep: number;
  prevTimestep: number;
  alphaT: number;
  alphaPrev: number;
  sqrtAlphaT: number;
  sqrtOneMinusAlphaT: number;
  sqrtAlphaPrev: number;
  sqrtOneMinusAlphaPrev: number;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * torch.linspace(start, end, n, dtype=float32) as the CPU kernel computes it with AVX2 (8-float vectors):
 * each full chunk of 8 starts at base = start + step·idx (first half, idx < n/2 at the chunk start) or
 * end - step·(n-1-idx) (second half) and fills base + k·step; the tail uses the scalar formula. All float32.
 * (Bit-exact against the fixture's alphas_cumprod; the scalar-only formula differs in the last bit at some t.)
 */
export function linspaceFloat32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) { out[0] = start; return out; }
  const s = f(start), e = f(end);
  const step = f(f(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  const V = 8;
  let idx = 0;
  for (; idx + V <= n; idx += V) {
    const base = idx < half ? f(s + f(step * idx)) : f(e - f(step * (n - 1 - idx)));
    for (let k = 0; k < V; k++) out[idx + k] = f(base + f(k * step));
  }
  for (; idx < n; idx++) out[idx] = idx < half ? f(s + f(step * idx)) : f(e - f(step * (n - 1 - idx)));
  return out;
}

/** numpy's np.round: round half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** DDIMScheduler.set_timesteps (diffusers 0.24.0) for `steps` inference steps: descending timesteps. */
export function diffusersTimesteps(steps: number, spacing: TimestepSpacing = 'leading', numTrainTimesteps = 1000, stepsOffset = 0): number[] {
  const T = numTrainTimesteps;
  if (spacing === 'linspace') {
    // np.linspace(0, T - 1, S).round()[::-1]; numpy: arange(S) * ((T-1)/(S-1)), last = T-1 exactly
    const out: number[] = [];
    const delta = (T - 1) / (steps - 1);
    for (let k = 0; k < steps; k++) out.push(steps === 1 ? 0 : k === steps - 1 ? T - 1 : roundHalfEven(k * delta));
    return out.reverse();
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(T / steps);
    const out: number[] = [];
    for (let k = steps - 1; k >= 0; k--) out.push(k * ratio + stepsOffset);
    return out;
  }
  // trailing: np.round(np.arange(T, 0, -T / S)) - 1
  const ratio = T / steps;
  const n = Math.ceil(T / ratio);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(roundHalfEven(T + i * -ratio) - 1);
  return out;
}

/** diffusers DDIMScheduler, eta 0, epsilon prediction, linear betas: `timesteps`, `coefficients(index)`, `step(index, x, eps)`. */
export class DiffusersDDIMScheduler {
  readonly steps: number;
  readonly config: Required<DiffusersDDIMConfig>;
  /** torch.cumprod(1 - linspace(betaStart, betaEnd, T, float32)) as torch computes it on CPU (float32 values). */
  readonly alphasCumprod: Float32Array;
  /** Descending model timesteps, one per step. */
  readonly timesteps: number[];

  constructor(steps: number, config: DiffusersDDIMConfig = {}) {
    if (config === null || typeof config !== 'object') throw InvalidArgumentError.expected('config', 'an object', config);
    const c: Required<DiffusersDDIMConfig> = {
      numTrainTimesteps: config.numTrainTimesteps ?? 1000,
      betaStart: config.betaStart ?? 0.0001,
      betaEnd: config.betaEnd ?? 0.02,
      betaSchedule: config.betaSchedule ?? 'linear',
      clipSample: config.clipSample ?? false,
      clipSampleRange: config.clipSampleRange ?? 1,
      setAlphaToOne: config.setAlphaToOne ?? true,
      stepsOffset: config.stepsOffset ?? 0,
      predictionType: config.predictionType ?? 'epsilon',
      timestepSpacing: config.timestepSpacing ?? 'leading',
    };
    if (!isInt(c.numTrainTimesteps) || c.numTrainTimesteps < 1) throw InvalidArgumentError.expected('numTrainTimesteps', 'an integer >= 1', c.numTrainTimesteps);
    if (!isNum(c.betaStart) || c.betaStart < 0 || c.betaStart >= 1) throw InvalidArgumentError.expected('betaStart', 'a number in [0, 1)', c.betaStart);
    if (!isNum(c.betaEnd) || c.betaEnd < 0 || c.betaEnd >= 1) throw InvalidArgumentError.expected('betaEnd', 'a number in [0, 1)', c.betaEnd);
    if (c.betaSchedule !== 'linear') throw InvalidArgumentError.expected('betaSchedule', "'linear'", c.betaSchedule);
    if (typeof c.clipSample !== 'boolean') throw InvalidArgumentError.expected('clipSample', 'a boolean', c.clipSample);
    if (!isNum(c.clipSampleRange) || c.clipSampleRange <= 0) throw InvalidArgumentError.expected('clipSampleRange', 'a finite number > 0', c.clipSampleRange);
    if (typeof c.setAlphaToOne !== 'boolean') throw InvalidArgumentError.expected('setAlphaToOne', 'a boolean', c.setAlphaToOne);
    if (!isInt(c.stepsOffset) || c.stepsOffset < 0) throw InvalidArgumentError.expected('stepsOffset', 'an integer >= 0', c.stepsOffset);
    if (c.predictionType !== 'epsilon') throw InvalidArgumentError.expected('predictionType', "'epsilon'", c.predictionType);
    if (c.timestepSpacing !== 'leading' && c.timestepSpacing !== 'linspace' && c.timestepSpacing !== 'trailing') {
      throw InvalidArgumentError.expected('timestepSpacing', "'leading', 'linspace' or 'trailing'", c.timestepSpacing);
    }
    if (!isInt(steps) || steps < 1 || steps > c.numTrainTimesteps) {
      throw InvalidArgumentError.expected('steps', `an integer in [1, ${c.numTrainTimesteps}] (numTrainTimesteps)`, steps);
    }
    const T = c.numTrainTimesteps;
    const timesteps = diffusersTimesteps(steps, c.timestepSpacing, T, c.stepsOffset);
    // diffusers would index alphas_cumprod out of range (IndexError) here: refuse up front
    const bad = timesteps.find((t) => t < 0 || t >= T);
    if (bad !== undefined) throw InvalidArgumentError.expected('stepsOffset', `a value keeping every timestep below ${T}`, c.stepsOffset);
    const betas = linspaceFloat32(c.betaStart, c.betaEnd, T);
    const ac = new Float32Array(T);
    let p = 1;
    // torch's CPU cumprod accumulates in double (acc_type<float> on CPU) and stores float32
    for (let i = 0; i < T; i++) { p *= f(1 - betas[i]); ac[i] = p; }
    this.steps = steps;
    this.config = c;
    this.alphasCumprod = ac;
    this.timesteps = timesteps;
  }

  /** The scalars of step `index` (0 = first, the largest timestep). */
  coefficients(index: number): DiffusersDDIMCoefficients {
    if (!isInt(index) || index < 0 || index >= this.steps) throw InvalidArgumentError.expected('index', `an integer in [0, ${this.steps - 1}]`, index);
    const t = this.timesteps[index];
    const prev = t - Math.floor(this.config.numTrainTimesteps / this.steps);
    const alphaT = this.alphasCumprod[t];
    const alphaPrev = prev >= 0 ? this.alphasCumprod[prev] : this.config.setAlphaToOne ? 1 : this.alphasCumprod[0];
    return {
      kind: 'ddim-diffusers', clipRange: this.config.clipSample ? f(this.config.clipSampleRange) : 0,
      timestep: t, prevTimestep: prev, alphaT, alphaPrev,
      sqrtAlphaT: f(Math.sqrt(alphaT)), sqrtOneMinusAlphaT: f(Math.sqrt(f(1 - alphaT))),
      sqrtAlphaPrev: f(Math.sqrt(alphaPrev)), sqrtOneMinusAlphaPrev: f(Math.sqrt(f(1 - alphaPrev))),
    };
  }

  /** Whether step(index) uses a noise tensor: never (eta 0). */
  needsNoise(_index: number): boolean {
    return false;
  }

  /** scheduler.step(eps, timesteps[index], x, eta=0): x_prev and x0 in float32, in torch's op order. */
  step(index: number, sample: Float32Array, modelOutput: Float32Array): DiffusersDDIMStepResult {
    const c = this.coefficients(index);
    if (!(sample instanceof Float32Array)) throw InvalidArgumentError.expected('sample', 'a Float32Array', sample);
    if (!(modelOutput instanceof Float32Array) || modelOutput.length !== sample.length) {
      throw InvalidArgumentError.expected('modelOutput', `a Float32Array of ${sample.length} values (the sample's length)`, modelOutput);
    }
    const n = sample.length;
    const x0 = new Float32Array(n), prev = new Float32Array(n);
    const clip = this.config.clipSample, r = f(this.config.clipSampleRange);
    for (let k = 0; k < n; k++) {
      const eps = modelOutput[k];
      let p = f(f(sample[k] - f(c.sqrtOneMinusAlphaT * eps)) / c.sqrtAlphaT);
      if (clip) p = Math.min(Math.max(p, -r), r);
      x0[k] = p;
      prev[k] = f(f(c.sqrtAlphaPrev * p) + f(c.sqrtOneMinusAlphaPrev * eps));
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
