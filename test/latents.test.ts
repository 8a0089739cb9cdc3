// Latents kept in the backend's memory and model.sampleStep(): the Pipeline's native step (forward, guidance and
// sampler update without leaving the backend) must give the bits of the TypeScript loop it replaced
// (model.forward / forwardWithCfg, then sampler.step on the host), and misuse must give typed errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DisposedError, InvalidArgumentError, Pipeline, createSampler, loadModel, type Model, type PipelineOptions, type Tensor,
} from '../lib/index.js';
import { normalizeConfig } from '../lib/config.js';
import { gaussianNoise } from '../lib/random.js';
import { writeRandomCheckpoint } from '../lib/random-checkpoint.js';
import { bits } from './helpers/compare.js';
import { fixturePath } from './helpers/fixtures.js';

/** The sampling loop as the Pipeline ran it before (host sampler update), from the pipeline's own initial latents. */
async function hostLoop(model: Model, options: PipelineOptions, start: Tensor, labels: number[] | undefined, seed: number): Promise<Float32Array> {
  const steps = Number(options.steps);
  const sampler = createSampler(options.sampler ?? 'ddim', steps, { eta: options.eta, variance: options.variance ?? 'learned_range' });
  const guided = (options.cfgScale ?? 1) > 1;
  const cache = options.cache ? model.createCache(options.cache) : undefined;
  const y = labels && guided ? [...labels, ...labels.map(() => model.config.num_classes)] : labels;
  let x = start;
  for (let j = 0; j < sampler.steps; j++) {
    const t = sampler.timesteps[j];
    const out = guided
      ? await model.forwardWithCfg({ x, t, y, cfgScale: options.cfgScale! }, { cache })
      : await model.forward({ x, t, y }, { cache });
    const noise = sampler.needsNoise(j) ? gaussianNoise(x.data.length, seed, j + 1) : undefined;
    x = { data: sampler.step(out, j, x, noise).prevSample, shape: x.shape };
  }
  return x.data;
}

describe('Pipeline steps in the backend (model.sampleStep) = the host loop, bit for bit', () => {
  const runs: { name: string; fixture: 'dit-skip-tiny' | 'latte-skip-tiny'; options: PipelineOptions; labels: number[] }[] = [
    { name: 'DiT, DDIM, CFG 4, dit:2 cache', fixture: 'dit-skip-tiny', options: { steps: 6, cfgScale: 4, cache: 'dit:2:1' }, labels: [3, 7] },
    { name: 'DiT, DDIM eta 0.8', fixture: 'dit-skip-tiny', options: { steps: 5, eta: 0.8 }, labels: [1] },
    { name: 'DiT, DDPM learned_range, CFG 2', fixture: 'dit-skip-tiny', options: { steps: 5, sampler: 'ddpm', cfgScale: 2 }, labels: [4] },
    { name: 'Latte, DDPM fixed_large', fixture: 'latte-skip-tiny', options: { steps: 4, sampler: 'ddpm', variance: 'fixed_large' }, labels: [2, 0] },
    { name: 'Latte, DDIM, CFG 3, latte cache', fixture: 'latte-skip-tiny', options: { steps: 6, cfgScale: 3, cache: 'latte' }, labels: [1] },
  ];
  for (const run of runs) {
    it(run.name, async () => {
      const model = await loadModel(fixturePath(run.fixture, 'model.safetensors'));
      try {
        const pipe = new Pipeline(model, run.options).init({ labels: run.labels, seed: 5 });
        const start = pipe.latents;
        const samples = await pipe.run();
        const expected = await hostLoop(model, run.options, start, run.labels, 5);
        expect(bits(pipe.latents.data)).toEqual(bits(expected));
        expect(samples.shape[0]).toBe(run.labels.length);
        pipe.dispose();
      } finally {
        model.dispose();
      }
    });
  }

  it('a model without learn_sigma (eps only, no variance channels), DDPM fixed_small', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-latents-'));
    try {
      const file = path.join(dir, 'uncond.safetensors');
      writeRandomCheckpoint(file, normalizeConfig({
        family: 'dit', skip: true, input_size: 8, patch_size: 2, in_channels: 3, hidden_size: 32, depth: 4, num_heads: 2,
        mlp_ratio: 2, num_classes: 10, learn_sigma: false, num_frames: 1,
      }), 9);
      const model = await loadModel(file);
      const options: PipelineOptions = { steps: 4, sampler: 'ddpm', variance: 'fixed_small' };
      const pipe = new Pipeline(model, options).init({ labels: [1, 2, 3], seed: 2 });
      const start = pipe.latents;
      await pipe.run();
      expect(bits(pipe.latents.data)).toEqual(bits(await hostLoop(model, options, start, [1, 2, 3], 2)));
      // learned_range needs variance channels: a typed error up front, at every step (the last one included)
      expect(() => new Pipeline(model, { steps: 4, sampler: 'ddpm', variance: 'learned_range' })).toThrow(/variance/);
      const latents = await model.createLatents(start);
      const learned = createSampler('ddpm', 4, { variance: 'learned_range' });
      for (const j of [0, 3]) {
        await expect(model.sampleStep(latents, { t: learned.timesteps[j], y: [1, 2, 3] }, learned.coefficients(j), { noise: new Float32Array(start.data.length) }))
          .rejects.toThrow(/update.*learn_sigma|learn_sigma.*update/);
      }
      latents.dispose();
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Latents and sampleStep', () => {
  let model: Model;
  let other: Model;
  beforeAll(async () => {
    model = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'));
    other = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'));
  });
  afterAll(() => {
    model?.dispose();
    other?.dispose();
  });
  const x = (rows: number, fill = 0.25): Tensor => ({ data: new Float32Array(rows * 4 * 8 * 8).fill(fill), shape: [rows, 4, 8, 8] });
  const ddim = createSampler('ddim', 10);

  it('createLatents / read / write round-trip, and sampleStep updates in place', async () => {
    const latents = await model.createLatents(x(2));
    expect(latents.shape).toEqual([2, 4, 8, 8]);
    expect(latents.read().data.every((v) => v === 0.25)).toBe(true);
    const values = Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i));
    latents.write({ data: values, shape: [2, 4, 8, 8] });
    expect(bits(latents.read().data)).toEqual(bits(values));
    const report = await model.sampleStep(latents, { t: ddim.timesteps[0], y: [1, 2] }, ddim.coefficients(0));
    expect(report).toEqual({ cached: false, blocksExecuted: model.config.depth, graph: false });
    const out = await model.forward({ x: { data: values, shape: [2, 4, 8, 8] }, t: ddim.timesteps[0], y: [1, 2] });
    const expected = ddim.step(out, 0, { data: values, shape: [2, 4, 8, 8] }).prevSample;
    expect(bits(latents.read().data)).toEqual(bits(expected));
    latents.dispose();
    latents.dispose(); // idempotent
    expect(latents.disposed).toBe(true);
    expect(() => latents.read()).toThrow(DisposedError);
  });

  it('misuse gives typed errors naming the parameter and leaves the latents unchanged', async () => {
    const latents = await model.createLatents(x(2));
    const before = bits(latents.read().data);
    const bad = async (fn: () => unknown, pattern: RegExp) => {
      let err: unknown;
      try {
        await fn();
      } catch (e) {
        err = e;
      }
      expect(err, String(pattern)).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(pattern);
    };
    await bad(() => model.createLatents({ data: new Float32Array(3 * 8 * 8), shape: [1, 3, 8, 8] }), /x\.shape/);
    await bad(() => latents.write({ data: new Float32Array(256), shape: [1, 4, 8, 8] }), /latents\.shape/);
    await bad(() => model.sampleStep({} as never, { t: 500, y: [1, 2] }, ddim.coefficients(0)), /latents/);
    const foreign = await other.createLatents(x(2));
    await bad(() => model.sampleStep(foreign, { t: 500, y: [1, 2] }, ddim.coefficients(0)), /another model/);
    foreign.dispose();
    await bad(() => model.sampleStep(latents, { t: 500, y: [1] }, ddim.coefficients(0)), /\by\b/);
    await bad(() => model.sampleStep(latents, { t: 2000, y: [1, 2] }, ddim.coefficients(0)), /t\[0\]/);
    await bad(() => model.sampleStep(latents, { t: 500, y: [1, 2] }, { kind: 'euler' } as never), /update/);
    await bad(() => model.sampleStep(latents, { t: 500, y: [1, 2] }, createSampler('ddim', 5, { eta: 1 }).coefficients(0)), /noise/);
    await bad(() => model.sampleStep(latents, { t: 500, y: [1, 2] }, ddim.coefficients(0), { noise: new Float32Array(3) }), /options\.noise/);
    await bad(() => model.sampleStep(latents, { t: 500, y: [1, 2], cfgScale: 4, cfgChannels: 99 }, ddim.coefficients(0)), /cfgChannels/);
    const odd = await model.createLatents(x(3));
    await bad(() => model.sampleStep(odd, { t: 500, y: [1, 2, 3], cfgScale: 4 }, ddim.coefficients(0)), /even batch/);
    odd.dispose();
    expect(bits(latents.read().data)).toEqual(before);
    latents.dispose();
    await expect(model.sampleStep(latents, { t: 500, y: [1, 2] }, ddim.coefficients(0))).rejects.toThrow(DisposedError);
  });

  it('the latents stay in the backend: steps download nothing (op profile), reading downloads once', async () => {
    const profiled = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'), { profile: true });
    const pipe = new Pipeline(profiled, { steps: 4, cfgScale: 4, sampler: 'ddpm' }).init({ labels: [3], seed: 1 });
    profiled.profile({ reset: true });
    while (!pipe.done) await pipe.step(); // (run() would also read the samples at the end)
    const calls = (op: string) => profiled.profile()!.ops.find((o) => o.op === op)?.calls ?? 0;
    expect(calls('download')).toBe(0);
    expect(calls('sampler_update')).toBe(4);
    expect(calls('cfg_guidance')).toBe(4);
    pipe.latents;
    pipe.samples; // the snapshot is reused until the next step
    expect(calls('download')).toBe(1);
    pipe.dispose();
    profiled.dispose();
  });

  it('Pipeline: latents are a snapshot, assignable between steps, unreadable during a step, released by dispose()', async () => {
    const pipe = new Pipeline(model, { steps: 3 }).init({ labels: [1], seed: 1 });
    const a = pipe.latents;
    a.data.fill(7); // a copy: the state is unchanged
    expect(pipe.latents.data[0]).not.toBe(7);
    const pending = pipe.step();
    expect(() => pipe.latents).toThrow(/step in progress/);
    await pending;
    pipe.latents = { data: new Float32Array(256).fill(0.5), shape: [1, 4, 8, 8] };
    expect(pipe.latents.data.every((v) => v === 0.5)).toBe(true);
    await pipe.step();
    expect(pipe.latents.data.every((v) => v === 0.5)).toBe(false);
    pipe.dispose();
    expect(() => pipe.latents).toThrow(/init\(\)/);
    expect(pipe.latentShape).toBeUndefined();
  });
});
