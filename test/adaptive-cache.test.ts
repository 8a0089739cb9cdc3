// Adaptive Skip-Cache: the shallow units' drift measured natively, the decision rule in lib/cache.ts, on the
// bundled digits model (DiT-skip, depth 6).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline, bundledModel, loadModel, resolveCachePolicy, type Model, type StepInfo } from '../lib/index.js';

let model: Model;
beforeAll(async () => {
  model = await loadModel(bundledModel.path());
});
afterAll(() => model.dispose());

async function run(cache: ConstructorParameters<typeof Pipeline>[1]['cache'], steps = 50) {
  const pipe = new Pipeline(model, { cfgScale: 3, steps, cache });
  pipe.init({ labels: [0, 1, 2, 3, 4, 5, 6, 7], seed: 1 });
  const info: StepInfo[] = [];
  const samples = await pipe.run({ onStep: (s) => void info.push(s) });
  return { samples, info, pipe };
}

describe('adaptive Skip-Cache', () => {
  it('parses presets and objects; refuses bad settings', () => {
    expect(resolveCachePolicy('dit:auto')).toMatchObject({ branch: 4, start: 1000, stop: 20, measure: true, adaptive: { threshold: 0.1, maxSkip: 4 } });
    expect(resolveCachePolicy('dit:auto:0.05:3:1')).toMatchObject({ branch: 1, adaptive: { threshold: 0.05, maxSkip: 3 } });
    expect(resolveCachePolicy({ mode: 'adaptive', branch: 1, threshold: 0.2 })).toMatchObject({ branch: 1, start: 1000, stop: -1, adaptive: { threshold: 0.2, maxSkip: 4 } });
    const fixed = resolveCachePolicy('dit:2');
    expect(fixed.measure).toBeUndefined();
    expect(fixed.adaptive).toBeUndefined();
    for (const bad of ['dit:auto:-1', 'dit:auto:x', 'dit:auto:0.1:0', 'dit:auto:0.1:2:0', 'nope:auto']) expect(() => resolveCachePolicy(bad as 'dit:auto'), bad).toThrow(InvalidArgumentError);
    expect(() => resolveCachePolicy({ mode: 'sometimes' } as unknown as 'dit')).toThrow(InvalidArgumentError);
  });

  it('measures the drift natively: 0 for the same input, > 0 for another; none with a fixed policy', async () => {
    const c = model.config;
    const x = { data: new Float32Array(2 * c.in_channels * c.input_size ** 2).map((_, i) => Math.sin(i)), shape: [2, c.in_channels, c.input_size, c.input_size] };
    const cache = model.createCache({ mode: 'adaptive', branch: 1, threshold: 1e9, maxSkip: 100 });
    const first = await model.forward({ x, t: [500, 500], y: [1, 2] }, { cache });
    expect(first.drift).toBeUndefined(); // no previous call
    const same = await model.forward({ x, t: [500, 500], y: [1, 2] }, { cache });
    expect(same.drift).toBe(0);
    const other = await model.forward({ x, t: [400, 400], y: [1, 2] }, { cache });
    expect(other.drift).toBeGreaterThan(0);
    const fixed = model.createCache('dit:2:1');
    await model.forward({ x, t: [500, 500], y: [1, 2] }, { cache: fixed });
    expect((await model.forward({ x, t: [500, 500], y: [1, 2] }, { cache: fixed })).drift).toBeUndefined();
  });

  it('decides by the rule: accumulated + last drift >= threshold, or maxSkip cached steps', async () => {
    for (const [threshold, maxSkip] of [[0.03, 4], [0.06, 3], [0.1, 6]]) {
      const { info, pipe } = await run({ mode: 'adaptive', branch: 1, threshold, maxSkip, start: 1000, stop: 20 });
      let acc = 0, last = 0, skipped = 0;
      info.forEach((s, i) => {
        const full = i === 0 || s.timestep >= 1000 || skipped >= maxSkip || acc + last >= threshold || (i > 0 && info[i - 1].timestep <= 20);
        expect(s.cached, `step ${i} (t ${s.timestep}) threshold ${threshold}`).toBe(!full);
        last = s.drift ?? 0;
        if (s.cached) { acc += last; skipped++; } else { acc = 0; skipped = 0; }
        if (s.drift !== undefined) expect(s.accumulatedDrift).toBeCloseTo(acc, 12);
      });
      expect(pipe.cacheStats.cachedSteps).toBeGreaterThan(10);
    }
  });

  it('with maxSkip 1 and no threshold it is the fixed N = 2 rule, sample for sample', async () => {
    const adaptive = await run({ mode: 'adaptive', branch: 1, threshold: 1e9, maxSkip: 1, start: 1000, stop: 20 });
    const fixed = await run('dit:2:1');
    expect(adaptive.info.map((s) => s.cached)).toEqual(fixed.info.map((s) => s.cached));
    expect(Array.from(adaptive.samples.data)).toEqual(Array.from(fixed.samples.data));
  });

  it('threshold 0 runs every step full; runs repeat exactly for a seed', async () => {
    const zero = await run({ mode: 'adaptive', branch: 1, threshold: 0 }, 20);
    expect(zero.info.every((s) => !s.cached)).toBe(true);
    const a = await run('dit:auto:0.06:4:1', 30);
    const b = await run('dit:auto:0.06:4:1', 30);
    expect(b.info.map((s) => [s.cached, s.drift])).toEqual(a.info.map((s) => [s.cached, s.drift]));
    expect(Array.from(b.samples.data)).toEqual(Array.from(a.samples.data));
    expect(a.pipe.cachePolicy).toMatchObject({ adaptive: { threshold: 0.06, maxSkip: 4 }, branch: 1 });
  });
});
