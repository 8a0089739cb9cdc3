// Samplers, Skip-Cache and the Pipeline against the official sampling trajectories.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, DDIMSampler, DDPMSampler, InvalidArgumentError, Pipeline, createDiffusion, loadModel, spaceTimesteps, type Model,
} from '../lib/index.js';
import { relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases, tensor } from './helpers/fixtures.js';
import type { StTensor } from './helpers/safetensors.js';
import { readFileSync } from 'node:fs';

const TOL = 1e-5;
const report: string[] = [];
afterAll(() => console.log('\nsampling vs fixtures (max relative error):\n' + report.join('\n')));
function checkError(label: string, err: number, tol = TOL) {
  report.push(`  ${label.padEnd(64)} ${err.toExponential(2)}`);
  expect(err, label).toBeLessThanOrEqual(tol);
}
const row = (t: StTensor, j: number) => ({ data: slice(f32(t), t.shape, j), shape: t.shape.slice(1) });
const fixtureJson = (name: string) => JSON.parse(readFileSync(fixturePath(name, 'fixture.json'), 'utf8'));
/** The fixture's cache block (official names) as a skipdit policy. */
const policyOf = (c: { interval: number; branch: number; start: number; stop: number; stop_inclusive: boolean }) => ({
  interval: c.interval, branch: c.branch, start: c.start, stop: c.stop, stopInclusive: c.stop_inclusive, fullWhenEmpty: true,
});

describe('diffusion schedule', () => {
  it('section respacing with banker\'s rounding (README examples) and the original timestep map', () => {
    expect(spaceTimesteps(1000, 10)).toEqual([0, 111, 222, 333, 444, 555, 666, 777, 888, 999]);
    expect(spaceTimesteps(1000, 8)).toEqual([0, 143, 285, 428, 571, 714, 856, 999]);
    expect(spaceTimesteps(1000, 7)).toEqual([0, 166, 333, 500, 666, 832, 999]);
    expect(spaceTimesteps(1000, 6)).toEqual([0, 200, 400, 599, 799, 999]);
    expect(spaceTimesteps(1000, 'ddim50')).toEqual(Array.from({ length: 50 }, (_, i) => i * 20));
    expect(spaceTimesteps(1000, 1000)).toHaveLength(1000);
    expect(createDiffusion(250).timestepMap).toHaveLength(250);
    expect(new DDIMSampler(10).timesteps).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  });

  it('fixed variances (models without learn_sigma): FIXED_LARGE = log(append(posterior_variance[1], betas[1:])), FIXED_SMALL = clipped posterior', () => {
    const d = createDiffusion(10);
    const x = { data: Float32Array.from([0.5, -1, 2, 0]), shape: [1, 4, 1, 1] };
    const eps = { data: Float32Array.from([0.1, 0.2, -0.3, 0.4]), shape: [1, 4, 1, 1] };
    const noise = new Float32Array(4).fill(1);
    for (const [variance, table] of [['fixed_large', (i: number) => (i === 0 ? d.posteriorVariance[1] : d.betas[i])], ['fixed_small', (i: number) => (i === 0 ? d.posteriorVariance[1] : d.posteriorVariance[i])]] as const) {
      const s = new DDPMSampler(10, { variance });
      for (const j of [0, 5, 9]) {
        const i = 9 - j;
        const r = s.step(eps, j, x, j === 9 ? undefined : noise);
        expect(r.logVariance![0]).toBe(Math.fround(Math.log(table(i))));
        const expected = j === 9 ? r.mean![2] : Math.fround(r.mean![2] + Math.fround(Math.exp(Math.fround(0.5 * r.logVariance![2]))));
        expect(r.prevSample[2]).toBe(expected);
      }
    }
    expect(() => new DDPMSampler(10).step(eps, 0, x, noise)).toThrow(/learned_range/);
  });
});

for (const name of ['dit-skip-tiny', 'latte-skip-tiny'] as const) {
  describe(name, () => {
    let model: Model;
    let cases: Record<string, StTensor>;
    const fx = fixtureJson(name);
    const sampling = Object.entries(fx.cases as Record<string, any>).filter(([, c]) => c.kind === 'ddim' || c.kind === 'ddpm');
    const seqs = Object.entries(fx.cases as Record<string, any>).filter(([, c]) => c.kind === 'cache_seq');
    beforeAll(async () => {
      model = await loadModel(fixturePath(name, 'model.safetensors'));
      cases = loadCases(name);
    });
    afterAll(() => model?.dispose());

    for (const [c, meta] of sampling) {
      it(`${c}: sampler update at every step from the stored model output (x_{t-1}, x0${meta.kind === 'ddpm' ? ', mean, log-variance' : ''})`, () => {
        const steps = meta.steps;
        const sampler = meta.kind === 'ddim' ? new DDIMSampler(steps) : new DDPMSampler(steps);
        expect(sampler.timesteps).toEqual(ints(cases[`${c}.timesteps`]));
        let worst = 0;
        for (let j = 0; j < steps; j++) {
          const noise = meta.kind === 'ddpm' ? row(cases[`${c}.noise`], j).data : undefined;
          const r = sampler.step(row(cases[`${c}.model_out`], j), j, row(cases[`${c}.x_in`], j), noise);
          const next = j + 1 < steps ? row(cases[`${c}.x_in`], j + 1).data : f32(cases[`${c}.sample`]);
          worst = Math.max(worst, relErr(r.prevSample, next), relErr(r.predXstart, row(cases[`${c}.pred_xstart`], j).data));
          if (meta.kind === 'ddpm') {
            worst = Math.max(worst, relErr(r.mean!, row(cases[`${c}.mean`], j).data), relErr(r.logVariance!, row(cases[`${c}.log_variance`], j).data));
          }
        }
        checkError(`${name} ${c} sampler update (worst step)`, worst);
      });

      it(`${c}: teacher-forced model calls${meta.cache ? ' through the cache, exact full/cached pattern' : ''}`, async () => {
        const cache = meta.cache ? model.createCache(policyOf(meta.cache)) : undefined;
        const y = ints(cases[`${c}.y`]);
        const ts = ints(cases[`${c}.timesteps`]);
        const pattern: number[] = [];
        let worst = 0;
        for (let j = 0; j < meta.steps; j++) {
          const out = await model.forwardWithCfg({ x: row(cases[`${c}.x_in`], j), t: ts[j], y, cfgScale: f32(cases[`${c}.cfg_scale`])[0] }, { cache });
          pattern.push(out.cached ? 0 : 1);
          worst = Math.max(worst, relErr(out.data, row(cases[`${c}.model_out`], j).data));
        }
        if (meta.cache) expect(pattern).toEqual(ints(cases[`${c}.full_step`]));
        checkError(`${name} ${c} model_out (teacher-forced, worst step)`, worst);
      });

      it(`${c}: free-running Pipeline from z, final sample and step pattern`, async () => {
        const y = ints(cases[`${c}.y`]);
        const n = y.length / 2;
        expect(y.slice(n)).toEqual(Array(n).fill(model.config.num_classes)); // the official null labels
        const pipe = new Pipeline(model, {
          sampler: meta.kind, steps: meta.steps, cfgScale: meta.cfg_scale, cache: meta.cache ? policyOf(meta.cache) : false,
        });
        pipe.init({ labels: y.slice(0, n), noise: tensor(cases[`${c}.z`]), stepNoise: meta.kind === 'ddpm' ? tensor(cases[`${c}.noise`]) : undefined });
        const pattern: number[] = [];
        await pipe.run({ onStep: (info) => void pattern.push(info.cached ? 0 : 1) });
        if (meta.cache) expect(pattern).toEqual(ints(cases[`${c}.full_step`]));
        // Free-running: rounding differences could compound through the steps (the state grows to |x| ~ 1e3);
        // measured ~1e-6, so the same 1e-5 tolerance holds.
        checkError(`${name} ${c} final sample (free-running)`, relErr(pipe.latents.data, f32(cases[`${c}.sample`])));
        expect(pipe.samples.shape[0]).toBe(n);
        const stats = pipe.cacheStats;
        expect(stats.calls).toBe(meta.steps);
        expect(stats.cachedSteps).toBe(pattern.filter((p) => p === 0).length);
        if (stats.cachedSteps > 0 && meta.cache.branch < model.config.depth / (model.config.family === 'dit' ? 2 : 4)) {
          expect(stats.flopsSaved).toBeGreaterThan(0);
        }
      });
    }

    for (const [c, meta] of seqs) {
      it(`${c}: createCache + forward({ cache }) one call at a time (outputs and full/cached pattern)`, async () => {
        const cache = model.createCache(policyOf(meta.cache));
        const ts = ints(cases[`${c}.t`]);
        const y = ints(cases[`${c}.y`]);
        const pattern: number[] = [];
        let worst = 0;
        for (let j = 0; j < ts.length; j++) {
          const r = await model.forward({ x: row(cases[`${c}.x`], j), t: ts[j], y }, { cache });
          pattern.push(r.cached ? 0 : 1);
          worst = Math.max(worst, relErr(r.data, row(cases[`${c}.out`], j).data));
          if (!r.cached) expect(r.blocksExecuted).toBe(model.config.depth);
        }
        expect(pattern).toEqual(ints(cases[`${c}.full_step`]));
        checkError(`${name} ${c} out (worst call)`, worst);
        const stats = cache.stats();
        expect(stats.calls).toBe(ts.length);
        expect(stats.fullSteps).toBe(pattern.reduce((a, b) => a + b, 0));
      });
    }
  });
}

describe('Pipeline behaviour', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'));
  });
  afterAll(() => model?.dispose());

  it('seeded noise is deterministic; different seeds differ', async () => {
    const run = async (seed: number) => new Pipeline(model, { steps: 5, cfgScale: 4 }).init({ labels: [3], seed }).run();
    const a = await run(7), b = await run(7), c = await run(8);
    expect(a.data).toEqual(b.data);
    expect(a.data).not.toEqual(c.data);
    expect(a.shape).toEqual([1, 4, 8, 8]);
  });

  it('abort mid-run leaves a consistent pipeline: continuing or restarting gives the uninterrupted result', async () => {
    const opts = { sampler: 'ddpm' as const, steps: 8, cfgScale: 4, cache: 'dit:2' as const };
    const reference = await new Pipeline(model, opts).init({ labels: [1, 2], seed: 3 }).run();
    const pipe = new Pipeline(model, opts).init({ labels: [1, 2], seed: 3 });
    const ac = new AbortController();
    const err = await pipe.run({ signal: ac.signal, onStep: (info) => { if (info.index === 3) ac.abort(); } }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(pipe.index).toBe(4);
    expect((await pipe.run()).data).toEqual(reference.data); // continue
    pipe.init({ labels: [1, 2], seed: 3 });
    expect((await pipe.run()).data).toEqual(reference.data); // clean rerun
  });

  it('two pipelines on one model keep separate caches (interleaved steps equal separate runs)', async () => {
    const make = (seed: number) => new Pipeline(model, { steps: 10, cfgScale: 4, cache: 'dit:3' }).init({ labels: [5], seed });
    const alone = [await make(1).run(), await make(2).run()];
    const p1 = make(1), p2 = make(2);
    while (!p1.done) {
      await p1.step();
      await p2.step();
    }
    expect(p1.samples.data).toEqual(alone[0].data);
    expect(p2.samples.data).toEqual(alone[1].data);
  });

  it('the cache state resets when the batch changes', async () => {
    const cache = model.createCache({ interval: 100, branch: 1 });
    const x2 = { data: new Float32Array(2 * 256).fill(0.1), shape: [2, 4, 8, 8] };
    const x4 = { data: new Float32Array(4 * 256).fill(0.1), shape: [4, 4, 8, 8] };
    expect((await model.forward({ x: x2, t: 500, y: [1, 2] }, { cache })).cached).toBe(false);
    expect((await model.forward({ x: x2, t: 500, y: [1, 2] }, { cache })).cached).toBe(true);
    expect((await model.forward({ x: x4, t: 500, y: [1, 2, 3, 4] }, { cache })).cached).toBe(false);
    const r = await model.forward({ x: x4, t: 500, y: [1, 2, 3, 4] }, { cache });
    expect(r.cached).toBe(true);
    expect(r.blocksExecuted).toBe(2); // k = 1 block at each end
  });

  it('forceFull, setCachePolicy between steps, disabling the cache, iteration, latents replacement', async () => {
    const pipe = new Pipeline(model, { steps: 6, cache: 'dit:2', cfgScale: 2 }).init({ labels: [0] });
    expect((await pipe.step()).cached).toBe(false);
    expect((await pipe.step({ forceFull: true })).cached).toBe(false);
    expect((await pipe.step()).cached).toBe(false); // count 2: full by the rule
    pipe.setCachePolicy({ interval: 3, branch: 2 });
    expect(pipe.cachePolicy).toMatchObject({ interval: 3, branch: 2 });
    const infos = [];
    for await (const info of pipe) infos.push(info);
    expect(infos.map((i) => i.cached)).toEqual([false, true, true]);
    expect(infos.map((i) => i.index)).toEqual([3, 4, 5]);
    expect(pipe.done).toBe(true);

    pipe.init({ labels: [0] });
    pipe.setCachePolicy(false);
    const z = pipe.latents;
    pipe.latents = { data: new Float32Array(z.data.length).fill(0.5), shape: z.shape };
    const info = await pipe.step();
    expect(info.cached).toBe(false);
    expect(pipe.cacheStats.predictedSpeedup).toBe(1);
  });

  it('invalid policies and arguments give typed errors', async () => {
    const bad = (fn: () => unknown, re: RegExp) => {
      let err: unknown;
      try { fn(); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(re);
    };
    bad(() => model.createCache({ interval: 2, branch: 5 }), /Expected an integer in \[1, 4\] \(blocks kept at each end\) for cache\.branch but received 5/);
    bad(() => model.createCache({ interval: 0, branch: 1 }), /cache\.interval/);
    bad(() => model.createCache('dit:0'), /interval/);
    bad(() => model.createCache('dit:2:0'), /branch/);
    expect(model.createCache('dit:3:2').policy).toMatchObject({ interval: 3, branch: 2, start: 1000, stop: 20 });
    bad(() => model.createCache('deepcache' as never), /preset/);
    bad(() => model.createCache({ interval: 2, branch: 1, stop: NaN }), /cache\.stop/);
    bad(() => model.createCache({ interval: 2, branch: 1, every: 3 } as never), /cache\.every/);
    bad(() => new Pipeline(model, { steps: 0 }), /steps/);
    bad(() => new Pipeline(model, { sampler: 'euler' as never }), /sampler/);
    bad(() => new Pipeline(model, { sampler: 'ddim', eta: -1 }), /eta/);
    bad(() => new Pipeline(model, { cfgChannels: 'some' as never }), /cfgChannels/);
    bad(() => new Pipeline(model).init({ labels: [10] }), /labels\[0\]/);
    bad(() => new Pipeline(model).init({}), /labels/);
    bad(() => new Pipeline(model, { cfgScale: 4 }).init({ labels: [1], noise: { data: new Float32Array(3 * 256), shape: [3, 4, 8, 8] } }), /noise\.shape\[0\]/);
    bad(() => new Pipeline(model).latents, /init\(\)/);
    await expect(new Pipeline(model).step()).rejects.toThrow(InvalidArgumentError);
    const pipe = new Pipeline(model, { steps: 2 }).init({ labels: [1] });
    const first = pipe.step();
    await expect(pipe.step()).rejects.toThrow(/step in progress/);
    await first;
    await pipe.step();
    await expect(pipe.step()).rejects.toThrow(/finished/);
    const other = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'));
    const x = { data: new Float32Array(256), shape: [1, 4, 8, 8] };
    await expect(model.forward({ x, t: 1, y: [1] }, { cache: other.createCache('dit') })).rejects.toThrow(/created by this model/);
    other.dispose();
  });
});
