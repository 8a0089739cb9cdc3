// diffusers' DDIMScheduler (0.24.0; eta 0) as the official text-to-video pipeline (sample_t2v.py) uses it, and
// diffusers' DDPMScheduler (0.21.2) as Hunyuan-DiT's text-to-image pipeline (sample_t2i.py, default sampler) uses it.
// These are NOT the ADM samplers of samplers.ts (class-conditional DiT/Latte): different timesteps
// (timestep_spacing), prev = t - T // S, and alphas_cumprod as torch computes it on CPU in float32.
// Every scalar and elementwise op is rounded to float32 in the order torch runs it (Math.fround).
import type { NativeSamplerUpdate } from '../binding.js';
import { InvalidArgumentError } from './errors.js';

const f = Math.fround;

export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';
/** beta_schedule: 'linear' = linspace(start, end); 'scaled_linear' = linspace(sqrt(start), sqrt(end)) ** 2 (float32). */
export type BetaSchedule = 'linear' | 'scaled_linear';
/** prediction_type: what the model predicts, the noise ('epsilon') or v = sqrt(a)·eps - sqrt(1-a)·x0 ('v_prediction'). */
export type PredictionType = 'epsilon' | 'v_prediction';

/** The DDIMScheduler options (camelCase of diffusers' scheduler_config.json keys). */
export interface DiffusersDDIMConfig {
  /** num_train_timesteps, default 1000. */
  numTrainTimesteps?: number;
  /** beta_start, default 0.0001. */
  betaStart?: number;
  /** beta_end, default 0.02. */
  betaEnd?: number;
  /** beta_schedule, default 'linear'. */
  betaSchedule?: BetaSchedule;
  /** clip_sample, default false (sample_t2v.py passes false; diffusers' own default is true). */
  clipSample?: boolean;
  /** clip_sample_range, default 1. */
  clipSampleRange?: number;
  /** set_alpha_to_one, default true. */
  setAlphaToOne?: boolean;
  /** steps_offset, default 0. */
  stepsOffset?: number;
  /** prediction_type, default 'epsilon'. */
  predictionType?: PredictionType;
  /** timestep_spacing, default 'leading'. */
  timestepSpacing?: TimestepSpacing;
}

export interface DiffusersDDIMStepResult {
  /** x_{t-1} (prev_sample). */
  prevSample: Float32Array;
  /** x_0 prediction (pred_original_sample), after clipping if clipSample. */
  predOriginalSample: Float32Array;
}

/**
 * The float32 scalars of one step. epsilon: x0 = (x - sqrtOneMinusAlphaT·eps) / sqrtAlphaT; v_prediction:
 * x0 = sqrtAlphaT·x - sqrtOneMinusAlphaT·v, eps = sqrtAlphaT·v + sqrtOneMinusAlphaT·x; then
 * x' = sqrtAlphaPrev·x0 + sqrtOneMinusAlphaPrev·eps.
 */
export interface DiffusersDDIMCoefficients extends Extract<NativeSamplerUpdate, { kind: 'ddim-diffusers' }> {
  predictionType: PredictionType;
  timestep: number;
  prevTimestep: number;
  alphaT: number;
  alphaPrev: number;
  sqrtAlphaT: number;
  sqrtOneMinusAlphaT: number;
  sqrtAlphaPrev: number;
  sqrtOneMinusAlphaPrev: number;
}

/** The DDPMScheduler options (camelCase of diffusers' scheduler_config.json keys); defaults = Hunyuan-DiT v1.2's. */
export interface DiffusersDDPMConfig {
  /** num_train_timesteps, default 1000. */
  numTrainTimesteps?: number;
  /** beta_start, default 0.00085. */
  betaStart?: number;
  /** beta_end, default 0.02 (Hunyuan-DiT v1.1: 0.03). */
  betaEnd?: number;
  /** beta_schedule, default 'scaled_linear'. */
  betaSchedule?: BetaSchedule;
  /** prediction_type, default 'v_prediction'. */
  predictionType?: PredictionType;
  /** variance_type: only 'fixed_small' (the posterior variance, clamped to 1e-20). */
  varianceType?: 'fixed_small';
  /** clip_sample, default false (sample_t2i.py passes false; diffusers' own default is true). */
  clipSample?: boolean;
  /** clip_sample_range, default 1. */
  clipSampleRange?: number;
  /** timestep_spacing, default 'leading'. */
  timestepSpacing?: TimestepSpacing;
  /** steps_offset, default 1. */
  stepsOffset?: number;
}

export interface DiffusersDDPMStepResult {
  /** x_{t-1} (prev_sample): the posterior mean plus stdDev·noise (when t > 0). */
  prevSample: Float32Array;
  /** x_0 prediction (pred_original_sample), after clipping if clipSample. */
  predOriginalSample: Float32Array;
}

/**
 * The float32 scalars of one DDPMScheduler step (diffusers 0.21.2, in its op order). x0 as in
 * DiffusersDDIMCoefficients; mean = predOriginalSampleCoeff·x0 + currentSampleCoeff·x; x' = mean + stdDev·noise when
 * addNoise (t > 0), else mean + 0.
 */
export interface DiffusersDDPMCoefficients extends Extract<NativeSamplerUpdate, { kind: 'ddpm-diffusers' }> {
  predictionType: PredictionType;
  timestep: number;
  prevTimestep: number;
  /** alphas_cumprod[t], alphas_cumprod[prev] (1 when prev < 0). */
  alphaT: number;
  alphaPrev: number;
  /** 1 - alphaT, 1 - alphaPrev. */
  betaProdT: number;
  betaProdPrev: number;
  /** alphaT / alphaPrev and 1 - that. */
  currentAlphaT: number;
  currentBetaT: number;
  /** max((1 - alphaPrev) / (1 - alphaT) · currentBetaT, 1e-20) (fixed_small). */
  variance: number;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * fmaf(a, b, c) for float32 a, b, c: a·b + c rounded once to float32 (what a contracted `c + a * b` computes). a·b
 * is exact in double and the sum exact as s + e (TwoSum); rounding the double s to float32 gives the right answer
 * except where s is exactly halfway between two float32 values and e != 0: there the exact value lies on e's side.
 */
export function fmaFloat32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bb = s - p, e = (p - (s - bb)) + (c - bb);
  const r = f(s);
  if (e === 0 || s === r || !Number.isFinite(s)) return r;
  f32[0] = r;
  u32[0] += Math.abs(s) > Math.abs(r) ? 1 : -1; // the float32 on the other side of s (sign-magnitude bits)
  if (Math.abs(s - r) !== Math.abs(f32[0] - s)) return r;
  f64[0] = s; // a tie: step s one double toward e (s !== 0 here), then round
  u64[0] += (s > 0) === (e > 0) ? 1n : -1n;
  return f(f64[0]);
}

/**
 * torch.linspace(start, end, n, dtype=float32) as torch 1.13's CPU kernel computes it (AVX2 build, whose compiler
 * contracts `a + b * c` to an FMA): the vectorized loop takes 2 vectors of 8 floats per iteration; each vector
 * starts at base = fma(step, idx, start) (idx < n/2 at the vector's start) or fma(-step, n-1-idx, end) and holds
 * fma(k, step, base), k = 0..7; the tail (< 16 values) uses the scalar formula, contracted alike. All float32.
 * Bit-exact against the betas / alphas_cumprod of the hunyuan-dit-tiny (scaled_linear) and latte-t2v-skip-tiny
 * fixtures; without the FMA, the square roots of the scaled_linear schedule differ in the last bit from t = 144 on.
 */
export function linspaceFloat32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) { out[0] = start; return out; }
  const s = f(start), e = f(end);
  const step = f(f(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  const at = (idx: number) => (idx < half ? fmaFloat32(step, f(idx), s) : fmaFloat32(-step, f(n - 1 - idx), e));
  const V = 8;
  let idx = 0;
  for (; idx + 2 * V <= n; idx += 2 * V) {
    for (const v of [idx, idx + V]) {
      const base = at(v);
      for (let k = 0; k < V; k++) out[v + k] = fmaFloat32(k, step, base);
    }
  }
  for (; idx < n; idx++) out[idx] = at(idx);
  return out;
}

/** numpy's np.round: round half to even. */
export function roundHalfEven(x: number): number {
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

/** The float32 betas of a diffusers scheduler (betas in __init__): torch.linspace in float32, squared for scaled_linear. */
export function diffusersBetas(schedule: BetaSchedule, betaStart: number, betaEnd: number, numTrainTimesteps: number): Float32Array {
  if (schedule === 'linear') return linspaceFloat32(betaStart, betaEnd, numTrainTimesteps);
  // torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=float32) ** 2: the roots are Python floats
  // (float64), rounded to float32 by linspace; the square is a float32 multiply.
  const roots = linspaceFloat32(Math.sqrt(betaStart), Math.sqrt(betaEnd), numTrainTimesteps);
  return roots.map((r) => f(r * r));
}

/** torch.cumprod(1 - betas) on CPU: float32 factors, the product accumulated in double (acc_type<float>), stored float32. */
export function alphasCumprodFloat32(betas: Float32Array): Float32Array {
  const ac = new Float32Array(betas.length);
  let p = 1;
  for (let i = 0; i < betas.length; i++) { p *= f(1 - betas[i]); ac[i] = p; }
  return ac;
}

interface CommonConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  predictionType: PredictionType;
  clipSample: boolean;
  clipSampleRange: number;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
}

/** Validates the options both schedulers share and returns the descending timesteps and the float32 tables. */
function setUp(steps: number, c: CommonConfig): { timesteps: number[]; betas: Float32Array; alphasCumprod: Float32Array } {
  if (!isInt(c.numTrainTimesteps) || c.numTrainTimesteps < 1) throw InvalidArgumentError.expected('numTrainTimesteps', 'an integer >= 1', c.numTrainTimesteps);
  if (!isNum(c.betaStart) || c.betaStart < 0 || c.betaStart >= 1) throw InvalidArgumentError.expected('betaStart', 'a number in [0, 1)', c.betaStart);
  if (!isNum(c.betaEnd) || c.betaEnd < 0 || c.betaEnd >= 1) throw InvalidArgumentError.expected('betaEnd', 'a number in [0, 1)', c.betaEnd);
  if (c.betaSchedule !== 'linear' && c.betaSchedule !== 'scaled_linear') throw InvalidArgumentError.expected('betaSchedule', "'linear' or 'scaled_linear'", c.betaSchedule);
  if (typeof c.clipSample !== 'boolean') throw InvalidArgumentError.expected('clipSample', 'a boolean', c.clipSample);
  if (!isNum(c.clipSampleRange) || c.clipSampleRange <= 0) throw InvalidArgumentError.expected('clipSampleRange', 'a finite number > 0', c.clipSampleRange);
  if (!isInt(c.stepsOffset) || c.stepsOffset < 0) throw InvalidArgumentError.expected('stepsOffset', 'an integer >= 0', c.stepsOffset);
  if (c.predictionType !== 'epsilon' && c.predictionType !== 'v_prediction') {
    throw InvalidArgumentError.expected('predictionType', "'epsilon' or 'v_prediction'", c.predictionType);
  }
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
  const betas = diffusersBetas(c.betaSchedule, c.betaStart, c.betaEnd, T);
  return { timesteps, betas, alphasCumprod: alphasCumprodFloat32(betas) };
}

function checkStepArrays(sample: Float32Array, modelOutput: Float32Array): void {
  if (!(sample instanceof Float32Array)) throw InvalidArgumentError.expected('sample', 'a Float32Array', sample);
  if (!(modelOutput instanceof Float32Array) || modelOutput.length !== sample.length) {
    throw InvalidArgumentError.expected('modelOutput', `a Float32Array of ${sample.length} values (the sample's length)`, modelOutput);
  }
}

/**
 * pred_original_sample of diffusers' DDIM / DDPM step, float32 in torch's op order: epsilon (x - b·eps) / a,
 * v_prediction a·x - b·v (a = sqrt(alpha_prod_t), b = sqrt(1 - alpha_prod_t)).
 */
function predictX0(v: boolean, a: number, b: number, x: number, m: number): number {
  return v ? f(f(a * x) - f(b * m)) : f(f(x - f(b * m)) / a);
}

/** diffusers DDIMScheduler, eta 0, epsilon or v prediction: `timesteps`, `coefficients(index)`, `step(index, x, modelOutput)`. */
export class DiffusersDDIMScheduler {
  readonly steps: number;
  readonly config: Required<DiffusersDDIMConfig>;
  /** torch.cumprod(1 - betas) as torch computes it on CPU (float32 values). */
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
    if (typeof c.setAlphaToOne !== 'boolean') throw InvalidArgumentError.expected('setAlphaToOne', 'a boolean', c.setAlphaToOne);
    const { timesteps, alphasCumprod } = setUp(steps, c);
    this.steps = steps;
    this.config = c;
    this.alphasCumprod = alphasCumprod;
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
      kind: 'ddim-diffusers', predictionType: this.config.predictionType, clipRange: this.config.clipSample ? f(this.config.clipSampleRange) : 0,
      timestep: t, prevTimestep: prev, alphaT, alphaPrev,
      sqrtAlphaT: f(Math.sqrt(alphaT)), sqrtOneMinusAlphaT: f(Math.sqrt(f(1 - alphaT))),
      sqrtAlphaPrev: f(Math.sqrt(alphaPrev)), sqrtOneMinusAlphaPrev: f(Math.sqrt(f(1 - alphaPrev))),
    };
  }

  /** Whether step(index) uses a noise tensor: never (eta 0). */
  needsNoise(_index: number): boolean {
    return false;
  }

  /**
   * scheduler.step(model_output, timesteps[index], x, eta=0): x_prev and x0 in float32, in torch's op order. v
   * prediction: x0 = a·x - b·v and eps = a·v + b·x, both from the unclipped values (use_clipped_model_output False).
   */
  step(index: number, sample: Float32Array, modelOutput: Float32Array): DiffusersDDIMStepResult {
    const c = this.coefficients(index);
    checkStepArrays(sample, modelOutput);
    const n = sample.length;
    const x0 = new Float32Array(n), prev = new Float32Array(n);
    const clip = this.config.clipSample, r = f(this.config.clipSampleRange), v = c.predictionType === 'v_prediction';
    const a = c.sqrtAlphaT, b = c.sqrtOneMinusAlphaT;
    for (let k = 0; k < n; k++) {
      const m = modelOutput[k], x = sample[k];
      let p = predictX0(v, a, b, x, m);
      const eps = v ? f(f(a * m) + f(b * x)) : m;
      if (clip) p = Math.min(Math.max(p, -r), r);
      x0[k] = p;
      prev[k] = f(f(c.sqrtAlphaPrev * p) + f(c.sqrtOneMinusAlphaPrev * eps));
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

/**
 * diffusers DDPMScheduler (0.21.2), variance_type fixed_small, as Hunyuan-DiT's sample_t2i.py uses it by default
 * (defaults = its config: scaled_linear 0.00085..0.02, v_prediction, leading, steps_offset 1): `timesteps`,
 * `needsNoise(index)`, `coefficients(index)`, `step(index, x, modelOutput, noise)`.
 */
export class DiffusersDDPMScheduler {
  readonly steps: number;
  readonly config: Required<DiffusersDDPMConfig>;
  /** The float32 betas (diffusersBetas). */
  readonly betas: Float32Array;
  /** torch.cumprod(1 - betas) as torch computes it on CPU (float32 values). */
  readonly alphasCumprod: Float32Array;
  /** Descending model timesteps, one per step. */
  readonly timesteps: number[];

  constructor(steps: number, config: DiffusersDDPMConfig = {}) {
    if (config === null || typeof config !== 'object') throw InvalidArgumentError.expected('config', 'an object', config);
    const c: Required<DiffusersDDPMConfig> = {
      numTrainTimesteps: config.numTrainTimesteps ?? 1000,
      betaStart: config.betaStart ?? 0.00085,
      betaEnd: config.betaEnd ?? 0.02,
      betaSchedule: config.betaSchedule ?? 'scaled_linear',
      predictionType: config.predictionType ?? 'v_prediction',
      varianceType: config.varianceType ?? 'fixed_small',
      clipSample: config.clipSample ?? false,
      clipSampleRange: config.clipSampleRange ?? 1,
      timestepSpacing: config.timestepSpacing ?? 'leading',
      stepsOffset: config.stepsOffset ?? 1,
    };
    if (c.varianceType !== 'fixed_small') throw InvalidArgumentError.expected('varianceType', "'fixed_small'", c.varianceType);
    const { timesteps, betas, alphasCumprod } = setUp(steps, c);
    this.steps = steps;
    this.config = c;
    this.betas = betas;
    this.alphasCumprod = alphasCumprod;
    this.timesteps = timesteps;
  }

  /**
   * Whether step(index) draws noise: when its timestep is > 0 (diffusers' `if t > 0`). With steps_offset 1 that is
   * every step, the last one (t = 1) included, where the variance is clamped to 1e-20 (std 1e-10).
   */
  needsNoise(index: number): boolean {
    return this.coefficients(index).addNoise;
  }

  /** The scalars of step `index` (0 = first, the largest timestep), each rounded to float32 as torch's 0-dim tensors. */
  coefficients(index: number): DiffusersDDPMCoefficients {
    if (!isInt(index) || index < 0 || index >= this.steps) throw InvalidArgumentError.expected('index', `an integer in [0, ${this.steps - 1}]`, index);
    const t = this.timesteps[index];
    const prev = t - Math.floor(this.config.numTrainTimesteps / this.steps);
    const alphaT = this.alphasCumprod[t];
    const alphaPrev = prev >= 0 ? this.alphasCumprod[prev] : 1;
    const betaProdT = f(1 - alphaT), betaProdPrev = f(1 - alphaPrev);
    const currentAlphaT = f(alphaT / alphaPrev), currentBetaT = f(1 - currentAlphaT);
    // _get_variance: (1 - alpha_prod_t_prev) / (1 - alpha_prod_t) * current_beta_t, clamp(min=1e-20) (float32 bound)
    const variance = Math.max(f(f(betaProdPrev / betaProdT) * currentBetaT), f(1e-20));
    return {
      kind: 'ddpm-diffusers', predictionType: this.config.predictionType, clipRange: this.config.clipSample ? f(this.config.clipSampleRange) : 0,
      timestep: t, prevTimestep: prev, alphaT, alphaPrev, betaProdT, betaProdPrev, currentAlphaT, currentBetaT, variance,
      sqrtAlphaT: f(Math.sqrt(alphaT)), sqrtOneMinusAlphaT: f(Math.sqrt(betaProdT)),
      predOriginalSampleCoeff: f(f(f(Math.sqrt(alphaPrev)) * currentBetaT) / betaProdT),
      currentSampleCoeff: f(f(f(Math.sqrt(currentAlphaT)) * betaProdPrev) / betaProdT),
      stdDev: f(Math.sqrt(variance)),
      addNoise: t > 0,
    };
  }

  /**
   * scheduler.step(model_output, timesteps[index], x, generator) with the variance noise it would draw given as
   * `noise` (read when needsNoise(index)): x_prev and x0 in float32, in torch's op order.
   */
  step(index: number, sample: Float32Array, modelOutput: Float32Array, noise?: Float32Array): DiffusersDDPMStepResult {
    const c = this.coefficients(index);
    checkStepArrays(sample, modelOutput);
    const n = sample.length;
    if (c.addNoise && (!(noise instanceof Float32Array) || noise.length !== n)) {
      throw InvalidArgumentError.expected('noise', `a Float32Array of ${n} values (step ${index}, t = ${c.timestep} > 0, adds noise)`, noise);
    }
    const x0 = new Float32Array(n), prev = new Float32Array(n);
    const clip = this.config.clipSample, r = f(this.config.clipSampleRange), v = c.predictionType === 'v_prediction';
    for (let k = 0; k < n; k++) {
      const x = sample[k];
      let p = predictX0(v, c.sqrtAlphaT, c.sqrtOneMinusAlphaT, x, modelOutput[k]);
      if (clip) p = Math.min(Math.max(p, -r), r);
      x0[k] = p;
      const mean = f(f(c.predOriginalSampleCoeff * p) + f(c.currentSampleCoeff * x));
      // pred_prev_sample + variance: variance is the Python int 0 without noise (mean + 0 turns -0 into +0)
      prev[k] = f(mean + (c.addNoise ? f(c.stdDev * noise![k]) : 0));
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
