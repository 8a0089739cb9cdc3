// diffusers' DDPMScheduler (0.21.2, v-prediction: Hunyuan-DiT's default sampler) and the classifier-free guidance of
// its pipeline against the hunyuan-dit-tiny fixture (sections 9 and 10 of its README), bit for bit; diffusers'
// DDIMScheduler with v-prediction against a float64 computation of the same formulas; both as native updates
// (model.sampleStep) against the TypeScript step.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DiffusersDDIMScheduler, DiffusersDDPMScheduler, InvalidArgumentError, diffusersBetas, loadModel, type Tensor,
} from '../lib/index.js';
import { fmaFloat32, linspaceFloat32 } from '../lib/schedulers.js';
import { bits, randn, relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';

const FIX = 'hunyuan-dit-tiny';
const f = Math.fround;
const report: string[] = [];
afterAll(() => console.log('\ndiffusers DDPM / CFG vs hunyuan-dit-tiny (max relative error, bit-exact):\n' + report.join('\n')));

const fixture = JSON.parse(readFileSync(fixturePath(FIX, 'fixture.json'), 'utf8'));
const cases = loadCases(FIX);
const SAMPLE_CASES = ['ddpm', 'cache_n2_k1', 'cache_n3_k2'] as const;

/** The scheduler_config of a case as DiffusersDDPMScheduler options. */
function configOf(name: string) {
  const c = fixture.cases[name].scheduler_config;
  expect(c.trained_betas).toBeNull();
  expect(c.thresholding).toBe(false);
  return {
    numTrainTimesteps: c.num_train_timesteps, betaStart: c.beta_start, betaEnd: c.beta_end, betaSchedule: c.beta_schedule,
    predictionType: c.prediction_type, varianceType: c.variance_type, clipSample: c.clip_sample, clipSampleRange: c.clip_sample_range,
    timestepSpacing: c.timestep_spacing, stepsOffset: c.steps_offset,
  };
}

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe('torch 1.13 float32 linspace (FMA-contracted AVX2 kernel)', () => {
  it('fmaFloat32 rounds a·b + c once, ties included, where Math.fround(a * b + c) rounds twice', () => {
    const a = f(1 + 3 * 2 ** -23), b = f(1 - 3 * 2 ** -23); // a·b = 1 - 9·2^-46: below the tie 2^24 + 3
    expect(f(a * b + (2 ** 24 + 2))).toBe(2 ** 24 + 4); // double rounding lands on the tie, then on the even side
    expect(fmaFloat32(a, b, 2 ** 24 + 2)).toBe(2 ** 24 + 2);
    expect(fmaFloat32(-a, b, -(2 ** 24 + 2))).toBe(-(2 ** 24 + 2));
    expect(fmaFloat32(1, 1, 2 ** 24 + 2)).toBe(2 ** 24 + 4); // an exact tie: to even
    expect(fmaFloat32(f(0.1), f(0.3), f(0.7))).toBe(f((f(0.1) * f(0.3)) + f(0.7))); // no tie: the double sum rounds right
  });
  it('the vectorized layout: 2 vectors of 8 per iteration, scalar tail; short ranges scalar', () => {
    const s = f(Math.sqrt(0.00085)), e = f(Math.sqrt(0.02)), step = f(f(e - s) / 999);
    const l = linspaceFloat32(Math.sqrt(0.00085), Math.sqrt(0.02), 1000);
    expect([l[0], l[999]]).toEqual([s, e]);
    expect(l[3]).toBe(fmaFloat32(3, step, s)); // in the first vector, from its base (= start)
    expect(l[996]).toBe(fmaFloat32(-step, 3, e)); // the tail (992..999, past 62 pairs of vectors): scalar from the end
    expect(l[507]).toBe(fmaFloat32(3, step, fmaFloat32(-step, 999 - 504, e))); // second half: base from the end
    expect(Array.from(linspaceFloat32(0, 1, 5))).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

describe('diffusers DDPMScheduler tables and timesteps (Hunyuan-DiT config)', () => {
  it('betas (float32 linspace of the square roots, squared) and alphas_cumprod: bit-exact', () => {
    const s = new DiffusersDDPMScheduler(10, configOf('ddpm'));
    const betas = f32(cases['sched_betas']), acp = f32(cases['sched_alphas_cumprod']);
    report.push(`  sched_betas: ${relErr(s.betas, betas).toExponential(2)}, ${sameBits(s.betas, betas)}`);
    report.push(`  sched_alphas_cumprod: ${relErr(s.alphasCumprod, acp).toExponential(2)}, ${sameBits(s.alphasCumprod, acp)}`);
    expect(bits(s.betas)).toEqual(bits(betas));
    expect(bits(s.alphasCumprod)).toEqual(bits(acp));
    // the defaults are this config
    expect(bits(new DiffusersDDPMScheduler(10).alphasCumprod)).toEqual(bits(acp));
    expect(bits(diffusersBetas('scaled_linear', 0.00085, 0.02, 1000))).toEqual(bits(betas));
  });

  it('timesteps: S = 10 -> 901..1, S = 100 -> 991..1 (leading, steps_offset 1); prev = t - 1000 // S', () => {
    const s10 = new DiffusersDDPMScheduler(10);
    expect(s10.timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(s10.timesteps.map((_, j) => s10.coefficients(j).prevTimestep)).toEqual([801, 701, 601, 501, 401, 301, 201, 101, 1, -99]);
    const s100 = new DiffusersDDPMScheduler(100);
    expect(s100.timesteps).toEqual(Array.from({ length: 100 }, (_, i) => 991 - 10 * i));
    for (const name of SAMPLE_CASES) {
      const s = new DiffusersDDPMScheduler(fixture.cases[name].steps, configOf(name));
      expect(s.timesteps).toEqual(ints(cases[`${name}.timesteps`]));
      expect(s.timesteps.map((_, j) => s.coefficients(j).prevTimestep)).toEqual(ints(cases[`${name}.prev_timesteps`]));
    }
    // the official runs of 100, 50 and 25 steps (fixture.json cache_patterns_official)
    for (const [key, run] of Object.entries(fixture.cache_patterns_official as Record<string, { timesteps: number[] }>)) {
      const steps = Number(/steps=(\d+)/.exec(key)![1]);
      expect(new DiffusersDDPMScheduler(steps).timesteps, key).toEqual(run.timesteps);
    }
    expect(new DiffusersDDPMScheduler(50).timesteps.slice(0, 3)).toEqual([981, 961, 941]);
    expect(new DiffusersDDPMScheduler(25).timesteps.slice(-2)).toEqual([41, 1]);
  });

  it('noise at every step, the last one (t = 1) included, with the variance clamped to 1e-20', () => {
    const s = new DiffusersDDPMScheduler(10);
    expect(s.timesteps.map((_, j) => s.needsNoise(j))).toEqual(new Array(10).fill(true));
    const last = s.coefficients(9);
    expect([last.timestep, last.prevTimestep, last.alphaPrev, last.betaProdPrev]).toEqual([1, -99, 1, 0]);
    expect(last.variance).toBe(f(1e-20));
    expect(last.stdDev).toBe(f(Math.sqrt(f(1e-20))));
    // steps_offset 0: the last timestep is 0 and diffusers adds no noise (x' = mean + 0)
    const s0 = new DiffusersDDPMScheduler(10, { stepsOffset: 0 });
    expect(s0.timesteps[9]).toBe(0);
    expect([s0.needsNoise(8), s0.needsNoise(9)]).toEqual([true, false]);
    const x = new Float32Array([1.5, -0.25, 3]), v = new Float32Array([0.5, 2, -1]);
    const r = s0.step(9, x, v);
    const c = s0.coefficients(9);
    expect(Array.from(r.prevSample)).toEqual(Array.from(r.predOriginalSample, (p, k) => f(f(c.predOriginalSampleCoeff * p) + f(c.currentSampleCoeff * x[k]))));
  });
});

describe('diffusers DDPMScheduler step vs the official Hunyuan-DiT runs (teacher-forced from x_in[j])', () => {
  for (const name of SAMPLE_CASES) {
    it(`${name}: every step from x_in[j], the guided v model_out[j] and noise[j] gives pred_x0[j] and x_out[j] bit for bit`, () => {
      const meta = fixture.cases[name];
      const s = new DiffusersDDPMScheduler(meta.steps, configOf(name));
      const sh = cases[`${name}.x_in`].shape;
      const get = (field: string, j: number) => slice(f32(cases[`${name}.${field}`]), sh, j);
      let maxX0 = 0, maxX = 0, exact = true;
      let chained = get('x_in', 0);
      expect(bits(chained)).toEqual(bits(f32(cases[`${name}.latents`])));
      for (let j = 0; j < meta.steps; j++) {
        const x = get('x_in', j), v = get('model_out', j), noise = get('noise', j);
        expect(s.needsNoise(j)).toBe(true);
        const r = s.step(j, x, v, noise);
        const wantX0 = get('pred_x0', j), wantX = get('x_out', j);
        maxX0 = Math.max(maxX0, relErr(r.predOriginalSample, wantX0));
        maxX = Math.max(maxX, relErr(r.prevSample, wantX));
        exact &&= sameBits(r.predOriginalSample, wantX0) && sameBits(r.prevSample, wantX);
        // the run itself: x_out[j] is x_in[j + 1]; chaining the steps reproduces the trajectory
        if (j + 1 < meta.steps) expect(bits(wantX)).toEqual(bits(get('x_in', j + 1)));
        chained = s.step(j, chained, v, noise).prevSample;
      }
      const sample = f32(cases[`${name}.sample`]);
      report.push(`  ${name}: pred_x0 ${maxX0.toExponential(2)}, x_out ${maxX.toExponential(2)}, bit-exact: ${exact}; chained final sample bit-exact: ${sameBits(chained, sample)}`);
      expect(exact).toBe(true);
      expect(bits(chained)).toEqual(bits(sample));
    });
  }
});

/** The official CFG: v = raw[:, :C]; u, c = v.chunk(2) (negative rows first); guided = u + s * (c - u), float32. */
function guide(raw: Float32Array, rawShape: number[], C: number, scale: number): Float32Array {
  const [B2, Cout, ...rest] = rawShape;
  const n = B2 / 2, inner = rest.reduce((a, b) => a * b, 1), plane = C * inner;
  const s = f(scale);
  const out = new Float32Array(n * plane);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < plane; i++) {
      const u = raw[b * Cout * inner + i], c = raw[(n + b) * Cout * inner + i];
      out[b * plane + i] = f(u + f(s * f(c - u)));
    }
  }
  return out;
}

describe('classifier-free guidance of the official pipeline (README section 9)', () => {
  const C = fixture.config.model.in_channels;
  for (const name of SAMPLE_CASES) {
    it(`${name}: u + s*(c - u) of model_out_raw[j] (channels [0, C), negative rows first) = model_out[j], bit for bit`, () => {
      const rawShape = cases[`${name}.model_out_raw`].shape.slice(1);
      const outShape = cases[`${name}.model_out`].shape;
      const scale = f32(cases[`${name}.cfg_scale`])[0];
      expect(scale).toBe(fixture.cases[name].cfg_scale);
      let exact = true, err = 0;
      for (let j = 0; j < fixture.cases[name].steps; j++) {
        const got = guide(slice(f32(cases[`${name}.model_out_raw`]), cases[`${name}.model_out_raw`].shape, j), rawShape, C, scale);
        const want = slice(f32(cases[`${name}.model_out`]), outShape, j);
        exact &&= sameBits(got, want);
        err = Math.max(err, relErr(got, want));
      }
      report.push(`  ${name} CFG: ${err.toExponential(2)}, bit-exact: ${exact}`);
      expect(exact).toBe(true);
    });
  }
  it('cfg (2 images per prompt): out_raw -> out, bit for bit', () => {
    const got = guide(f32(cases['cfg.out_raw']), cases['cfg.out_raw'].shape, C, f32(cases['cfg.cfg_scale'])[0]);
    const want = f32(cases['cfg.out']);
    report.push(`  cfg CFG: ${relErr(got, want).toExponential(2)}, bit-exact: ${sameBits(got, want)}`);
    expect(bits(got)).toEqual(bits(want));
  });
});

describe('diffusers DDIMScheduler with v-prediction', () => {
  const hunyuan = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.02, predictionType: 'v_prediction', stepsOffset: 1 } as const;

  it('scaled_linear tables = the DDPM ones; leading timesteps with steps_offset', () => {
    const s = new DiffusersDDIMScheduler(10, hunyuan);
    expect(bits(s.alphasCumprod)).toEqual(bits(f32(cases['sched_alphas_cumprod'])));
    expect(s.timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  });

  it('x0 = sqrt(a)·x - sqrt(1-a)·v, eps = sqrt(a)·v + sqrt(1-a)·x, x\' = sqrt(a\')·x0 + sqrt(1-a\')·eps: float64 computation within float32 rounding', () => {
    for (const [steps, config] of [[10, hunyuan], [25, { ...hunyuan, timestepSpacing: 'trailing' }], [7, { predictionType: 'v_prediction' }]] as const) {
      const s = new DiffusersDDIMScheduler(steps, config);
      const n = 301;
      for (let j = 0; j < steps; j++) {
        const x = randn(n, 10 + j, 3), v = randn(n, 50 + j, 2);
        const r = s.step(j, x, v);
        const t = s.timesteps[j], prev = t - Math.floor(1000 / steps);
        const a = s.alphasCumprod[t], ap = prev >= 0 ? s.alphasCumprod[prev] : 1;
        const x0 = Float64Array.from(x, (xi, k) => Math.sqrt(a) * xi - Math.sqrt(1 - a) * v[k]);
        const eps = Float64Array.from(x, (xi, k) => Math.sqrt(a) * v[k] + Math.sqrt(1 - a) * xi);
        const xp = Float64Array.from(x0, (p, k) => Math.sqrt(ap) * p + Math.sqrt(1 - ap) * eps[k]);
        expect(relErr(r.predOriginalSample, x0), `x0 step ${j}/${steps}`).toBeLessThan(2e-6);
        expect(relErr(r.prevSample, xp), `x' step ${j}/${steps}`).toBeLessThan(4e-6);
        // the v identity the formulas invert: v = sqrt(a)·eps - sqrt(1-a)·x0
        const back = Float64Array.from(eps, (e, k) => Math.sqrt(a) * e - Math.sqrt(1 - a) * x0[k]);
        expect(relErr(back, v)).toBeLessThan(1e-12);
      }
    }
  });

  it('the last step (prev < 0, set_alpha_to_one) returns x0; clip_sample clamps x0 but not the eps it derives from', () => {
    const s = new DiffusersDDIMScheduler(10, hunyuan);
    const x = randn(64, 3, 4), v = randn(64, 4, 4);
    const r = s.step(9, x, v);
    expect(bits(r.prevSample)).toEqual(bits(r.predOriginalSample));
    const clipped = new DiffusersDDIMScheduler(10, { ...hunyuan, clipSample: true, clipSampleRange: 0.5 });
    const rc = clipped.step(3, x, v), ru = s.step(3, x, v);
    const c = s.coefficients(3);
    for (let k = 0; k < 64; k++) {
      const p = Math.min(Math.max(ru.predOriginalSample[k], -0.5), 0.5);
      const eps = f(f(c.sqrtAlphaT * v[k]) + f(c.sqrtOneMinusAlphaT * x[k]));
      expect(rc.predOriginalSample[k]).toBe(p);
      expect(rc.prevSample[k]).toBe(f(f(c.sqrtAlphaPrev * p) + f(c.sqrtOneMinusAlphaPrev * eps)));
    }
  });
});

describe('diffusers DDPMScheduler epsilon prediction and options', () => {
  it('epsilon: x0 = (x - sqrt(1-a)·eps) / sqrt(a); mean and noise as with v (float64 within float32 rounding)', () => {
    const s = new DiffusersDDPMScheduler(20, { predictionType: 'epsilon', betaSchedule: 'linear', betaStart: 0.0001, timestepSpacing: 'linspace' });
    const n = 200;
    for (const j of [0, 7, 19]) {
      const x = randn(n, j, 2), e = randn(n, 100 + j), z = randn(n, 200 + j);
      const r = s.step(j, x, e, z);
      const t = s.timesteps[j], prev = t - Math.floor(1000 / 20);
      const a = s.alphasCumprod[t], ap = prev >= 0 ? s.alphasCumprod[prev] : 1, ca = a / ap;
      const x0 = Float64Array.from(x, (xi, k) => (xi - Math.sqrt(1 - a) * e[k]) / Math.sqrt(a));
      const varc = Math.max(((1 - ap) / (1 - a)) * (1 - ca), 1e-20);
      const want = Float64Array.from(x0, (p, k) => (Math.sqrt(ap) * (1 - ca)) / (1 - a) * p + (Math.sqrt(ca) * (1 - ap)) / (1 - a) * x[k] + Math.sqrt(varc) * z[k]);
      expect(relErr(r.predOriginalSample, x0)).toBeLessThan(1e-5);
      expect(relErr(r.prevSample, want)).toBeLessThan(1e-5);
    }
  });

  const bad: [number, object, RegExp][] = [
    [0, {}, /steps/], [1001, {}, /steps/], [2.5, {}, /steps/],
    [8, { timestepSpacing: 'karras' }, /timestepSpacing/], [8, { betaSchedule: 'squaredcos_cap_v2' }, /betaSchedule/],
    [8, { predictionType: 'sample' }, /predictionType/], [8, { varianceType: 'learned_range' }, /varianceType/],
    [8, { stepsOffset: -1 }, /stepsOffset/], [8, { stepsOffset: 200 }, /stepsOffset/], [8, { clipSample: 1 }, /clipSample/],
    [8, { clipSampleRange: 0 }, /clipSampleRange/], [8, { betaStart: Number.NaN }, /betaStart/], [8, { betaEnd: 2 }, /betaEnd/],
    [8, { numTrainTimesteps: 0 }, /numTrainTimesteps/],
  ];
  for (const [steps, options, re] of bad) {
    it(`refuses steps ${steps} ${JSON.stringify(options)}`, () => {
      const make = () => new DiffusersDDPMScheduler(steps, options as never);
      expect(make).toThrow(InvalidArgumentError);
      expect(make).toThrow(re);
    });
  }
  it('refuses bad step arguments: a step with noise needs it', () => {
    const s = new DiffusersDDPMScheduler(8);
    expect(() => s.step(8, new Float32Array(2), new Float32Array(2), new Float32Array(2))).toThrow(InvalidArgumentError);
    expect(() => s.step(0, new Float32Array(2), new Float32Array(3), new Float32Array(2))).toThrow(/modelOutput/);
    expect(() => s.step(0, new Float32Array(2), new Float32Array(2))).toThrow(/noise/);
    expect(() => s.step(7, new Float32Array(2), new Float32Array(2), new Float32Array(1))).toThrow(/noise/);
  });
});

describe('model.sampleStep with the diffusers updates = the TypeScript step on the first C channels', () => {
  // dit-skip-tiny learns sigma: its output is (B, 2C, H, W), as Hunyuan-DiT's; the update reads channels [0, C).
  const runs = [
    { name: 'DDPM v-prediction (Hunyuan defaults), noise at the last step too', make: () => new DiffusersDDPMScheduler(10), steps: [0, 5, 9] },
    { name: 'DDPM epsilon, clip_sample, steps_offset 0 (no noise at t = 0)', make: () => new DiffusersDDPMScheduler(6, { predictionType: 'epsilon', clipSample: true, stepsOffset: 0 }), steps: [1, 5] },
    { name: 'DDIM v-prediction, scaled_linear', make: () => new DiffusersDDIMScheduler(10, { betaSchedule: 'scaled_linear', betaStart: 0.00085, predictionType: 'v_prediction', stepsOffset: 1 }), steps: [0, 4, 9] },
  ];
  for (const run of runs) {
    it(run.name, async () => {
      const model = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'));
      try {
        const s = run.make();
        const shape = [2, 4, 8, 8], n = 2 * 4 * 64, y = [3, 7];
        for (const j of run.steps) {
          const x: Tensor = { data: randn(n, 40 + j, 2), shape };
          const noise = randn(n, 90 + j);
          const out = await model.forward({ x, t: s.timesteps[j], y });
          const plane = 4 * 64, v = new Float32Array(n);
          for (let b = 0; b < 2; b++) v.set(out.data.subarray(2 * b * plane, (2 * b + 1) * plane), b * plane);
          const expected = s.step(j, x.data, v, noise).prevSample;
          const latents = await model.createLatents(x);
          const needs = s.needsNoise(j);
          if (needs) {
            await expect(model.sampleStep(latents, { t: s.timesteps[j], y }, s.coefficients(j))).rejects.toThrow(/noise/);
          }
          await model.sampleStep(latents, { t: s.timesteps[j], y }, s.coefficients(j), needs ? { noise } : {});
          expect(bits(latents.read().data), `step ${j}`).toEqual(bits(expected));
          latents.dispose();
        }
        // the native parser refuses an unknown prediction type
        const latents = await model.createLatents({ data: new Float32Array(n), shape });
        await expect(model.sampleStep(latents, { t: s.timesteps[0], y }, { ...s.coefficients(0), predictionType: 'sample' } as never, { noise: new Float32Array(n) }))
          .rejects.toThrow(/predictionType/);
        latents.dispose();
      } finally {
        model.dispose();
      }
    });
  }
});
