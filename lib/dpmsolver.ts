// diffusers' DPMSolverMultistepScheduler (v0.40.0) with algorithm_type 'dpmsolver++', solver_type 'midpoint',
// order 1 or 2: the same float32 tables and per-step arithmetic (test/fixtures/dpmsolver, made from its source
// by tools/fixtures/dpmsolver.py). Runs on the host: the pipeline gives it the model's eps (or v) and the latents.
//
// What matters for agreement (each measured against the fixtures):
// - the tables are float32 as torch builds them: betas by torch.linspace, alphas_cumprod by cumprod (accumulated
//   in double), sigmas = ((1 - ac) / ac) ** 0.5; a float64 schedule misses near t = 0 and with Karras sigmas;
// - final_sigmas_type 'zero' (the default since v0.26): the last step goes to sigma 0 and returns the x0
//   prediction, first order; 'leading' spacing is 1000 // (S + 1) apart (DDIM's is 1000 // S);
// - timesteps and Karras sigmas are numpy float64 (linspace, round half to even), _sigma_to_t interpolates in the
//   float32 log-sigma table.
import { InvalidArgumentError } from './errors.js';
import { alphasCumprodFloat32, diffusersBetas, diffusersTimesteps, roundHalfEven, type BetaSchedule, type PredictionType, type TimestepSpacing } from './schedulers.js';

const f = Math.fround;

export interface DPMSolverConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  predictionType: PredictionType;
  /** 2 (default, DPM-Solver++(2M)) or 1. */
  solverOrder: 1 | 2;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  useKarrasSigmas: boolean;
  /** First order on the last steps when there are fewer than 15 (default true). */
  lowerOrderFinal: boolean;
  /** 'zero' (default): the last step lands on sigma 0; 'sigma_min': on the table's smallest sigma. */
  finalSigmasType: 'zero' | 'sigma_min';
}

export const dpmSolverDefaults: DPMSolverConfig = {
  numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', predictionType: 'epsilon', solverOrder: 2,
  timestepSpacing: 'linspace', stepsOffset: 0, useKarrasSigmas: false, lowerOrderFinal: true, finalSigmasType: 'zero',
};

/** numpy's linspace (float64): arange(n) * step + start, the last point exactly stop (the Karras ramp). */
function linspace64(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const step = (stop - start) / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? stop : i * step + start));
}

/** alpha_t, sigma_t of a sigma, in float32 as _sigma_to_alpha_sigma_t computes them. */
function alphaSigma(sigma: number): [number, number] {
  const alpha = f(1 / f(Math.sqrt(f(f(sigma * sigma) + 1))));
  return [alpha, f(sigma * alpha)];
}

const lambdaOf = (alpha: number, sigma: number) => f(f(Math.log(alpha)) - f(Math.log(sigma)));

export class DPMSolverMultistepScheduler {
  readonly config: DPMSolverConfig;
  readonly alphasCumprod: Float32Array;
  /** The steps' timesteps (integers). */
  readonly timesteps: number[];
  /** sigmas[i] of each step and sigmas[steps], the final one (float32 values). */
  readonly sigmas: Float32Array;
  #previous: Float32Array | undefined; // the last step's x0 prediction (model_outputs[-2] at the next step)
  #spare: Float32Array | undefined; // the one before it: its buffer takes the next x0 prediction (no allocation per step)
  #lowerOrderNums = 0;
  #index = 0;

  constructor(steps: number, config: Partial<DPMSolverConfig> = {}) {
    const c = { ...dpmSolverDefaults, ...config };
    if (!Number.isInteger(steps) || steps < 1 || steps > c.numTrainTimesteps) throw InvalidArgumentError.expected('steps', `an integer in [1, ${c.numTrainTimesteps}]`, steps);
    if (c.solverOrder !== 1 && c.solverOrder !== 2) throw InvalidArgumentError.expected('solverOrder', '1 or 2', c.solverOrder);
    if (!['linspace', 'leading', 'trailing'].includes(c.timestepSpacing)) throw InvalidArgumentError.expected('timestepSpacing', "'linspace', 'leading' or 'trailing'", c.timestepSpacing);
    if (c.finalSigmasType !== 'zero' && c.finalSigmasType !== 'sigma_min') throw InvalidArgumentError.expected('finalSigmasType', "'zero' or 'sigma_min'", c.finalSigmasType);
    this.config = c;
    const T = c.numTrainTimesteps;
    this.alphasCumprod = alphasCumprodFloat32(diffusersBetas(c.betaSchedule, c.betaStart, c.betaEnd, T));
    const table = this.alphasCumprod.map((ac) => f(Math.sqrt(f(f(1 - ac) / ac))));

    // set_timesteps (lambda_min_clipped = -inf: the last timestep is T): DDIM's spacings over S + 1 points without
    // the last (linspace, leading: 1000 // (S + 1) apart), or DDIM's trailing S
    let timesteps = c.timestepSpacing === 'trailing' ? diffusersTimesteps(steps, 'trailing', T)
      : diffusersTimesteps(steps + 1, c.timestepSpacing, T, c.stepsOffset).slice(0, -1);
    let sigmas: number[];
    if (c.useKarrasSigmas) {
      // _convert_to_karras on the flipped float32 table (float64 math), then each sigma's timestep
      const logSigmas = table.map((s) => f(Math.log(s)));
      const sigmaMin = table[0], sigmaMax = table[T - 1], rho = 7;
      const minInv = sigmaMin ** (1 / rho), maxInv = sigmaMax ** (1 / rho);
      sigmas = linspace64(0, 1, steps).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
      timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
    } else {
      sigmas = timesteps.map((t) => table[t]);
    }
    const last = c.finalSigmasType === 'zero' ? 0 : table[0];
    this.timesteps = timesteps;
    this.sigmas = Float32Array.from([...sigmas, last]);
  }

  /** Back to the first step (a new run). */
  reset(): void {
    this.#previous = undefined;
    this.#lowerOrderNums = 0;
    this.#index = 0;
  }

  get steps(): number {
    return this.timesteps.length;
  }

  /** The step the next step() call makes. */
  get index(): number {
    return this.#index;
  }

  /**
   * One step: the model output at timesteps[index] (eps, or v with v_prediction; a learned-sigma model's eps half)
   * and the latents, both float32 with the same length; returns the latents of the next timestep.
   */
  step(modelOutput: Float32Array, sample: Float32Array): Float32Array {
    const i = this.#index;
    if (i >= this.steps) throw new InvalidArgumentError(`Expected a step index below ${this.steps} but the run is finished`);
    if (modelOutput.length !== sample.length) throw InvalidArgumentError.expected('modelOutput', `${sample.length} values (as the sample)`, modelOutput.length);
    const c = this.config;
    const n = this.steps;
    // (diffusers' lower_order_second only matters for order 3)
    const lowerOrderFinal = i === n - 1 && ((c.lowerOrderFinal && n < 15) || c.finalSigmasType === 'zero');

    // convert_model_output: the x0 prediction
    const [alphaS0, sigmaS0] = alphaSigma(this.sigmas[i]);
    const m0 = this.#spare?.length === sample.length ? this.#spare : new Float32Array(sample.length);
    if (c.predictionType === 'epsilon') for (let k = 0; k < m0.length; k++) m0[k] = f(f(sample[k] - f(sigmaS0 * modelOutput[k])) / alphaS0);
    else for (let k = 0; k < m0.length; k++) m0[k] = f(f(alphaS0 * sample[k]) - f(sigmaS0 * modelOutput[k]));

    const [alphaT, sigmaT] = alphaSigma(this.sigmas[i + 1]);
    const h = f(lambdaOf(alphaT, sigmaT) - lambdaOf(alphaS0, sigmaS0));
    const a = f(sigmaT / sigmaS0);
    const b = f(alphaT * f(f(Math.exp(-h)) - 1));
    const out = new Float32Array(sample.length);
    if (c.solverOrder === 1 || this.#lowerOrderNums < 1 || lowerOrderFinal) {
      for (let k = 0; k < out.length; k++) out[k] = f(f(a * sample[k]) - f(b * m0[k]));
    } else {
      // midpoint: D1 = (m0 - m1) / r0, x = a x - b D0 - 0.5 b D1
      const [alphaS1, sigmaS1] = alphaSigma(this.sigmas[i - 1]);
      const h0 = f(lambdaOf(alphaS0, sigmaS0) - lambdaOf(alphaS1, sigmaS1));
      const invR0 = f(1 / f(h0 / h));
      const half = f(0.5 * b);
      const m1 = this.#previous!;
      for (let k = 0; k < out.length; k++) {
        const d1 = f(invR0 * f(m0[k] - m1[k]));
        out[k] = f(f(f(a * sample[k]) - f(b * m0[k])) - f(half * d1));
      }
    }
    this.#spare = this.#previous;
    this.#previous = m0;
    if (this.#lowerOrderNums < c.solverOrder) this.#lowerOrderNums++;
    this.#index++;
    return out;
  }
}

/** _sigma_to_t: the (fractional) timestep of a sigma, interpolating log sigma in the float32 table. */
function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low], hi = logSigmas[low + 1];
  const w = Math.min(1, Math.max(0, (lo - logSigma) / f(lo - hi)));
  return (1 - w) * low + w * (low + 1);
}
