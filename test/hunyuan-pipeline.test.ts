// Hunyuan-DiT sampling as sample_t2i.py runs it, through Pipeline, against the official runs of hunyuan-dit-tiny:
// [negative, prompt] CFG 6, diffusers DDPM (v-prediction, noise drawn at every step), Skip-Cache hunyuan:N:k with
// the official full/cached patterns; teacher-forced per step and free-running.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline, loadModel, type Model } from '../lib/index.js';
import { errorReport, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases, mask, tensor } from './helpers/fixtures.js';
import type { StTensor } from './helpers/safetensors.js';

const NAME = 'hunyuan-dit-tiny';
const STEP_TOL = 1e-5;
const RUN_TOL = 1e-4;
const { check, lines: report } = errorReport('hunyuan-dit pipeline', STEP_TOL, 40);


describe('hunyuan-dit pipeline', () => {
  let model: Model;
  let cases: Record<string, StTensor>;
  beforeAll(async () => {
    model = await loadModel(fixturePath(NAME, 'model.safetensors'), { backend: 'cpu', config: { input_size: 8 } });
    cases = loadCases(NAME);
  });
  afterAll(() => model?.dispose());

  /** The prompt's and the negative prompt's [BERT, mT5] states of a sampling case. */
  const textOf = (c: string) => {
    const pair = (who: 'prompt' | 'negative') => [
      { states: tensor(cases[`${c}.${who}_states`]), mask: mask(cases[`${c}.${who}_mask`]) },
      { states: tensor(cases[`${c}.${who}_states_t5`]), mask: mask(cases[`${c}.${who}_mask_t5`]) },
    ] as [{ states: { data: Float32Array; shape: number[] }; mask: { data: Float32Array; shape: number[] } }, { states: { data: Float32Array; shape: number[] }; mask: { data: Float32Array; shape: number[] } }];
    return { text: [pair('prompt')], negativeText: [pair('negative')] };
  };

  for (const [c, cache] of [['ddpm', false], ['cache_n2_k1', 'hunyuan:2:1'], ['cache_n3_k2', 'hunyuan:3:2']] as const) {
    it(`${c}: the official run (CFG 6, 10 DDPM steps${cache ? `, ${cache}` : ''}), free-running and teacher-forced`, async () => {
      const steps = cases[`${c}.timesteps`].shape[0];
      const pipe = new Pipeline(model, { steps, cfgScale: f32(cases[`${c}.cfg_scale`])[0], cache });
      expect(pipe.timesteps).toEqual(ints(cases[`${c}.timesteps`]));
      const noise = cases[`${c}.noise`];
      const init = { ...textOf(c), size: [64, 64] as [number, number], noise: tensor(cases[`${c}.latents`]), stepNoise: { data: f32(noise), shape: noise.shape } };
      pipe.init(init);
      const sample = await pipe.run();
      check(`${c}.sample (free-running)`, sample.data, f32(cases[`${c}.sample`]), RUN_TOL);
      const pattern = pipe.history.map((s) => (s.cached ? 0 : 1));
      if (cases[`${c}.full_step`]) expect(pattern).toEqual(ints(cases[`${c}.full_step`]));
      else expect(pattern.every((p) => p === 1)).toBe(true);
      // teacher-forced: each step from the official x_in[j]
      pipe.init(init);
      const xIn = cases[`${c}.x_in`], xOut = cases[`${c}.x_out`];
      for (let j = 0; j < steps; j++) {
        const x = slice(f32(xIn), xIn.shape, j);
        const both = new Float32Array(2 * x.length);
        both.set(x);
        both.set(x, x.length);
        pipe.latents = { data: both, shape: [2, ...xIn.shape.slice(2)] };
        await pipe.step();
        check(`${c}.x_out[${j}]`, pipe.samples.data, slice(f32(xOut), xOut.shape, j));
      }
    });
  }

  it('the official 100/50/25-step patterns (fixture.json cache_patterns_official) from the hunyuan:N:k policy', async () => {
    const official = JSON.parse(readFileSync(fixturePath(NAME, 'fixture.json'), 'utf8')).cache_patterns_official as Record<string, { timesteps: number[]; full_step: number[] }>;
    expect(Object.keys(official).length).toBe(4);
    for (const [key, want] of Object.entries(official)) {
      const [, steps, n, k] = /steps=(\d+) cache_step=(\d+) cache_at_branch=(\d+)/.exec(key)!.map(Number);
      const pipe = new Pipeline(model, { steps, cfgScale: 6, cache: `hunyuan:${n}:${k}` as 'hunyuan:2:1' });
      pipe.init({ ...textOf('ddpm'), size: [16, 16], seed: 1 }); // the smallest image: the schedule does not depend on it
      await pipe.run();
      expect(pipe.timesteps, key).toEqual(want.timesteps);
      expect(pipe.history.map((s) => (s.cached ? 0 : 1)), key).toEqual(want.full_step);
    }
  });

  it('bad input: typed errors', () => {
    const { text, negativeText } = textOf('ddpm');
    const pipe = new Pipeline(model, { steps: 2, cfgScale: 6 });
    expect(() => pipe.init({ text })).toThrow(/negativeText/);
    expect(() => pipe.init({ text, negativeText, size: [60, 64] })).toThrow(/size/);
    expect(() => pipe.init({ text, negativeText, frames: 1 })).toThrow(/frames/);
    expect(() => pipe.init({ prompts: ['一只小猫'] })).toThrow(/textEncoders/);
    expect(() => pipe.init({ text: [[text[0][0]]] as never, negativeText })).toThrow(InvalidArgumentError);
    expect(() => new Pipeline(model, { sampler: 'ddpm', eta: 0.5 })).toThrow(/eta/);
    expect(() => new Pipeline(model, { textEncoder: {} as never })).toThrow(/textEncoder/);
  });
});
