// DPM-Solver++ (diffusers' DPMSolverMultistepScheduler v0.40.0) against fixtures made from its source
// (tools/fixtures/dpmsolver.py): timesteps, sigmas, and every step of 10 configurations, teacher-forced.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DPMSolverMultistepScheduler, type DPMSolverConfig } from '../lib/dpmsolver.js';
import { InvalidArgumentError } from '../lib/index.js';
import { fixturePath } from './helpers/fixtures.js';

interface Case {
  name: string;
  config: Record<string, unknown>;
  steps: number;
  timesteps: number[];
  sigmas: number[];
  model_outputs: number[][];
  samples: number[][];
}
const fixture = JSON.parse(readFileSync(fixturePath('dpmsolver', 'cases.json'), 'utf8')) as { diffusers: string; cases: Case[] };

const keys: Record<string, keyof DPMSolverConfig> = {
  timestep_spacing: 'timestepSpacing', steps_offset: 'stepsOffset', use_karras_sigmas: 'useKarrasSigmas', beta_schedule: 'betaSchedule',
  beta_start: 'betaStart', beta_end: 'betaEnd', prediction_type: 'predictionType', final_sigmas_type: 'finalSigmasType',
  lower_order_final: 'lowerOrderFinal', solver_order: 'solverOrder',
};
const toConfig = (c: Record<string, unknown>): Partial<DPMSolverConfig> => Object.fromEntries(Object.entries(c).map(([k, v]) => [keys[k], k === 'prediction_type' && v === 'v_prediction' ? 'v_prediction' : v]));
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
};

describe(`DPM-Solver++ vs diffusers ${fixture.diffusers}`, () => {
  const report: string[] = [];
  for (const c of fixture.cases) {
    it(`${c.name}: timesteps, sigmas, each step within 1e-6`, () => {
      const s = new DPMSolverMultistepScheduler(c.steps, toConfig(c.config));
      expect(s.timesteps).toEqual(c.timesteps);
      expect(relErr(s.sigmas, c.sigmas)).toBeLessThanOrEqual(1e-7);
      let worst = 0;
      for (let i = 0; i < c.steps; i++) {
        const next = s.step(Float32Array.from(c.model_outputs[i]), Float32Array.from(c.samples[i]));
        const err = relErr(next, c.samples[i + 1]);
        worst = Math.max(worst, err);
        expect(err, `step ${i} (t = ${c.timesteps[i]})`).toBeLessThanOrEqual(1e-6);
      }
      report.push(`  ${c.name.padEnd(24)} ${c.steps} steps, worst step ${worst.toExponential(2)}`);
    });
  }
  it('reports', () => console.log(`DPM-Solver++ vs diffusers (max relative error per step):\n${report.join('\n')}`));

  it('refuses bad settings, and a step past the end', () => {
    expect(() => new DPMSolverMultistepScheduler(0)).toThrow(InvalidArgumentError);
    expect(() => new DPMSolverMultistepScheduler(10, { solverOrder: 3 as 2 })).toThrow(InvalidArgumentError);
    const s = new DPMSolverMultistepScheduler(1);
    s.step(new Float32Array(4), new Float32Array(4));
    expect(() => s.step(new Float32Array(4), new Float32Array(4))).toThrow(/finished/);
    expect(() => new DPMSolverMultistepScheduler(2).step(new Float32Array(3), new Float32Array(4))).toThrow(InvalidArgumentError);
  });
});

describe('DPM-Solver++ in a Pipeline (the bundled digits model, CFG)', () => {
  it('is the same as forwardWithCfg + its noise channels + the scheduler, step by step', async () => {
    const { Pipeline, bundledModel, loadModel } = await import('../lib/index.js');
    const { noiseChannels } = await import('../lib/pipeline.js');
    const model = await loadModel(bundledModel.path());
    try {
      const pipe = new Pipeline(model, { sampler: 'dpmsolver++', steps: 8, cfgScale: 3 });
      pipe.init({ labels: [3, 7], seed: 5 });
      const start = pipe.latents;
      const samples = await pipe.run();
      expect(pipe.timesteps).toEqual(new DPMSolverMultistepScheduler(8).timesteps);
      const s = new DPMSolverMultistepScheduler(8);
      let x = Float32Array.from(start.data);
      for (const t of s.timesteps) {
        const out = await model.forwardWithCfg({ x: { data: x, shape: start.shape }, t, y: [3, 7, 10, 10], cfgScale: 3 });
        x = s.step(noiseChannels(out, model.config), x);
      }
      expect(Array.from(samples.data)).toEqual(Array.from(x.subarray(0, samples.data.length)));
      // a second run restarts the solver's history
      pipe.init({ labels: [3, 7], seed: 5 });
      expect(Array.from((await pipe.run()).data)).toEqual(Array.from(samples.data));
      // with Skip-Cache and Karras sigmas it runs; options of other samplers are refused
      const cached = new Pipeline(model, { sampler: 'dpmsolver++', steps: 10, cfgScale: 3, cache: 'dit:2:1', karras: true });
      cached.init({ labels: [1], seed: 2 });
      await cached.run();
      expect(cached.cacheStats.cachedSteps).toBeGreaterThan(0);
      expect(() => new Pipeline(model, { sampler: 'dpmsolver++', eta: 0.5 })).toThrow(InvalidArgumentError);
      expect(() => new Pipeline(model, { sampler: 'ddim', karras: true })).toThrow(InvalidArgumentError);
    } finally {
      model.dispose();
    }
  });
});
