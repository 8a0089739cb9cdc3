// diffusers' DDIMScheduler (the text-to-video pipeline's scheduler) against the latte-t2v-skip-tiny fixture.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { DiffusersDDIMScheduler, InvalidArgumentError, diffusersTimesteps } from '../lib/index.js';
import { bits, relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';

const FIX = 'latte-t2v-skip-tiny';
const report: string[] = [];
afterAll(() => console.log('\ndiffusers DDIM vs fixtures (max relative error):\n' + report.join('\n')));

const LEADING_50 = [980, 960, 940, 920, 900, 880, 860, 840, 820, 800, 780, 760, 740, 720, 700, 680, 660, 640, 620, 600,
  580, 560, 540, 520, 500, 480, 460, 440, 420, 400, 380, 360, 340, 320, 300, 280, 260, 240, 220, 200, 180, 160, 140, 120,
  100, 80, 60, 40, 20, 0];

describe('diffusers DDIMScheduler timesteps (0.24.0 set_timesteps)', () => {
  it('leading, 50 steps = the README list; steps_offset adds', () => {
    expect(new DiffusersDDIMScheduler(50).timesteps).toEqual(LEADING_50);
    expect(diffusersTimesteps(50, 'leading', 1000, 1)).toEqual(LEADING_50.map((t) => t + 1));
    expect(diffusersTimesteps(8)).toEqual([875, 750, 625, 500, 375, 250, 125, 0]);
    expect(diffusersTimesteps(7)).toEqual([852, 710, 568, 426, 284, 142, 0]);
  });
  it('linspace: round(linspace(0, 999, S)) reversed, half to even', () => {
    const ts = new DiffusersDDIMScheduler(50, { timestepSpacing: 'linspace' }).timesteps;
    expect(ts.slice(0, 6)).toEqual([999, 979, 958, 938, 917, 897]);
    expect(ts).toHaveLength(50);
    expect(ts[49]).toBe(0);
    const expected = Array.from({ length: 50 }, (_, k) => Math.round((k * 999) / 49)).reverse();
    expect(ts).toEqual(expected); // no exact .5 ties at 50 steps
    expect(diffusersTimesteps(3, 'linspace')).toEqual([999, 500, 0]); // 499.5 -> 500 (even)
    expect(diffusersTimesteps(5, 'linspace')).toEqual([999, 749, 500, 250, 0]); // 249.75, 499.5, 749.25
  });
  it('trailing: round(arange(T, 0, -T/S)) - 1', () => {
    const ts = new DiffusersDDIMScheduler(50, { timestepSpacing: 'trailing' }).timesteps;
    expect(ts).toEqual(LEADING_50.map((t) => t + 19));
    expect(diffusersTimesteps(8, 'trailing')).toEqual([999, 874, 749, 624, 499, 374, 249, 124]);
    expect(diffusersTimesteps(3, 'trailing')).toEqual([999, 666, 332]); // 1000, 666.67, 333.33
  });
});

describe('diffusers DDIMScheduler step vs the official t2v pipeline', () => {
  const cases = loadCases(FIX);
  const cfg = JSON.parse(readFileSync(fixturePath(FIX, 'fixture.json'), 'utf8')).scheduler_config;
  const config = {
    numTrainTimesteps: cfg.num_train_timesteps, betaStart: cfg.beta_start, betaEnd: cfg.beta_end, betaSchedule: cfg.beta_schedule,
    clipSample: cfg.clip_sample, clipSampleRange: cfg.clip_sample_range, setAlphaToOne: cfg.set_alpha_to_one,
    stepsOffset: cfg.steps_offset, predictionType: cfg.prediction_type, timestepSpacing: cfg.timestep_spacing,
  };

  it('alphas_cumprod (float32 linspace + cumprod)', () => {
    const s = new DiffusersDDIMScheduler(8, config);
    const err = relErr(s.alphasCumprod, f32(cases['ddim.alphas_cumprod']));
    report.push(`  ddim.alphas_cumprod ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-6);
    const same = bits(s.alphasCumprod).every((b, i) => b === bits(f32(cases['ddim.alphas_cumprod']))[i]);
    report.push(`  ddim.alphas_cumprod bit-exact: ${same}`);
    expect(same).toBe(true);
  });

  for (const name of ['ddim', 'ddim_cache', 'cfg'] as const) {
    it(`${name}: timesteps, then each step from x_in[j], eps[j] gives pred_x0[j], x_out[j]`, () => {
      const expectedTs = ints(cases[`${name}.timesteps`]);
      const s = new DiffusersDDIMScheduler(expectedTs.length, name === 'cfg' ? { ...config, stepsOffset: 537 } : config);
      expect(s.timesteps).toEqual(expectedTs);
      const sh = cases[`${name}.x_in`].shape;
      let maxX0 = 0, maxX = 0, exact = true;
      for (let j = 0; j < expectedTs.length; j++) {
        const x = slice(f32(cases[`${name}.x_in`]), sh, j);
        const eps = slice(f32(cases[`${name}.eps`]), sh, j);
        const wantX0 = slice(f32(cases[`${name}.pred_x0`]), sh, j);
        const wantX = slice(f32(cases[`${name}.x_out`]), sh, j);
        const r = s.step(j, x, eps);
        maxX0 = Math.max(maxX0, relErr(r.predOriginalSample, wantX0));
        maxX = Math.max(maxX, relErr(r.prevSample, wantX));
        exact &&= r.predOriginalSample.every((v, i) => Object.is(v, wantX0[i])) && r.prevSample.every((v, i) => Object.is(v, wantX[i]));
      }
      report.push(`  ${name}: pred_x0 ${maxX0.toExponential(2)}, x_out ${maxX.toExponential(2)}, bit-exact: ${exact}`);
      expect(maxX0).toBeLessThanOrEqual(1e-6);
      expect(maxX).toBeLessThanOrEqual(1e-6);
      expect(exact).toBe(true);
    });
  }

  it('cfg: prev < 0 with set_alpha_to_one -> x_out = pred_x0; set_alpha_to_one false uses alphas_cumprod[0]', () => {
    const s = new DiffusersDDIMScheduler(1, { stepsOffset: 537 });
    const c = s.coefficients(0);
    expect([c.timestep, c.prevTimestep, c.alphaPrev]).toEqual([537, -463, 1]);
    const x = new Float32Array([0.5, -2]), e = new Float32Array([0.1, 0.3]);
    const r = s.step(0, x, e);
    expect(Array.from(r.prevSample)).toEqual(Array.from(r.predOriginalSample));
    const s2 = new DiffusersDDIMScheduler(1, { stepsOffset: 537, setAlphaToOne: false });
    expect(s2.coefficients(0).alphaPrev).toBe(s2.alphasCumprod[0]);
  });

  it('clipSample clamps pred_x0 to ±clipSampleRange', () => {
    const s = new DiffusersDDIMScheduler(8, { clipSample: true, clipSampleRange: 1.5 });
    const r = s.step(0, new Float32Array([100, -100, 0.01]), new Float32Array([0, 0, 0]));
    expect(r.predOriginalSample[0]).toBe(1.5);
    expect(r.predOriginalSample[1]).toBe(-1.5);
    expect(r.predOriginalSample[2]).toBeCloseTo(0.01 / Math.sqrt(s.alphasCumprod[875]), 5);
  });
});

describe('diffusers DDIMScheduler options', () => {
  const bad: [number, object, RegExp][] = [
    [0, {}, /steps/], [1001, {}, /steps/], [2.5, {}, /steps/],
    [8, { timestepSpacing: 'karras' }, /timestepSpacing/],
    [8, { betaSchedule: 'squaredcos_cap_v2' }, /betaSchedule/],
    [8, { predictionType: 'sample' }, /predictionType/],
    [8, { stepsOffset: -1 }, /stepsOffset/], [8, { stepsOffset: 1.5 }, /stepsOffset/], [8, { stepsOffset: 200 }, /stepsOffset/],
    [8, { clipSample: 1 }, /clipSample/], [8, { clipSampleRange: 0 }, /clipSampleRange/],
    [8, { setAlphaToOne: 'yes' }, /setAlphaToOne/], [8, { betaStart: Number.NaN }, /betaStart/], [8, { betaEnd: 2 }, /betaEnd/],
    [8, { numTrainTimesteps: 0 }, /numTrainTimesteps/],
  ];
  for (const [steps, options, re] of bad) {
    it(`refuses steps ${steps} ${JSON.stringify(options)}`, () => {
      const make = () => new DiffusersDDIMScheduler(steps, options as never);
      expect(make).toThrow(InvalidArgumentError);
      expect(make).toThrow(re);
    });
  }
  it('refuses bad step arguments', () => {
    const s = new DiffusersDDIMScheduler(8);
    expect(() => s.step(8, new Float32Array(2), new Float32Array(2))).toThrow(InvalidArgumentError);
    expect(() => s.step(0, new Float32Array(2), new Float32Array(3))).toThrow(/modelOutput/);
    expect(() => s.step(0, [1, 2] as never, new Float32Array(2))).toThrow(/sample/);
  });
});
