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

  it('decides inside each call by the rule: accumulated + this call\'s drift >= threshold, or maxSkip cached steps', async () => {
    for (const [threshold, maxSkip] of [[0.03, 4], [0.06, 3], [0.1, 6]]) {
      const { info, pipe } = await run({ mode: 'adaptive', branch: 1, threshold, maxSkip, start: 1000, stop: 20 });
      let acc = 0, skipped = 0;
      info.forEach((s, i) => {
        const d = s.drift ?? 0;
        const forced = i === 0 || s.timestep >= 1000 || info[i - 1].timestep <= 20; // first call, start, after stop
        const full = forced || skipped >= maxSkip || acc + d >= threshold;
        expect(s.cached, `step ${i} (t ${s.timestep}) threshold ${threshold}`).toBe(!full);
        if (full) { acc = 0; skipped = 0; } else { acc += d; skipped++; }
        expect(s.accumulatedDrift).toBeCloseTo(acc, 12);
        expect(s.blocksExecuted).toBe(full ? 6 : 2);
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

describe('adaptive Skip-Cache in the other families', () => {
  it('Latte and Hunyuan-DiT: the graph with both alternatives gives the fixed rule\'s samples when it decides as it does', async () => {
    const { readFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { fixturePath } = await import('./helpers/fixtures.js');
    const { writeTinyHunyuanFolder } = await import('../bench/tiny-hunyuan.js');
    const { generateHunyuan } = await import('../lib/generate-hunyuan.js');
    const config = JSON.parse(readFileSync(fixturePath('latte-skip-tiny', 'fixture.json'), 'utf8')).config;
    const latte = await loadModel(fixturePath('latte-skip-tiny', 'model.safetensors'), { config, backend: 'cpu' });
    try {
      const sample = async (cache: ConstructorParameters<typeof Pipeline>[1]['cache']) => {
        const p = new Pipeline(latte, { steps: 12, cache, cfgScale: 3 });
        p.init({ labels: [1], seed: 3 });
        const info: StepInfo[] = [];
        return { samples: await p.run({ onStep: (s) => void info.push(s) }), info };
      };
      const adaptive = await sample({ mode: 'adaptive', branch: 1, threshold: 1e9, maxSkip: 1, start: 1000, stop: -1 });
      const fixed = await sample({ interval: 2, branch: 1, start: 1000, stop: -1 });
      expect(adaptive.info.map((s) => s.cached)).toEqual(fixed.info.map((s) => s.cached));
      expect(Array.from(adaptive.samples.data)).toEqual(Array.from(fixed.samples.data));
    } finally {
      latte.dispose();
    }
    const root = mkdtempSync(path.join(os.tmpdir(), 'skipdit-adaptive-'));
    try {
      writeTinyHunyuanFolder(root);
      const run = (cache: Parameters<typeof generateHunyuan>[0]['cache']) =>
        generateHunyuan({ model: root, prompts: ['渔舟唱晚'], size: [64, 64], steps: 10, cache, out: path.join(root, 'o.png'), backend: 'cpu' });
      const fixed = await run('hunyuan');
      const adaptive = await run({ mode: 'adaptive', branch: 1, threshold: 1e9, maxSkip: 1, start: 700, stop: 50, stopInclusive: true, fullWhenEmpty: false });
      expect(adaptive.report.cachedSteps).toBe(fixed.report.cachedSteps);
      expect(Array.from(adaptive.samples.data)).toEqual(Array.from(fixed.samples.data));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
