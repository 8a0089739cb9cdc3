// The feature-smoothness probe (lib/smoothness.ts, `skipdit bench smoothness`): its arithmetic against plain
// references at awkward sizes, the probe on the bundled skip model and on a random non-skip DiT, its typed errors,
// and the CLI's table, JSON and plot.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, bundledModel, describeModel, gaussianNoise, loadModel, normalizeConfig, type Model } from '../lib/index.js';
import { writeRandomCheckpoint } from '../lib/random-checkpoint.js';
import { gridAxis, meanRowCosine, normalizedDirection, runSmoothnessProbe, smoothnessPlotPng } from '../lib/smoothness.js';
import { cli } from './helpers/cli.js';

describe('smoothness arithmetic', () => {
  it('meanRowCosine matches a plain per-row cosine at awkward sizes, zero rows included', () => {
    for (const [rows, width] of [[1, 1], [7, 13], [3, 97]]) {
      const a = Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i * 1.3) + 0.1);
      const b = Float32Array.from({ length: rows * width }, (_, i) => Math.cos(i * 0.7) - 0.2);
      let want = 0;
      for (let r = 0; r < rows; r++) {
        const x = a.subarray(r * width, (r + 1) * width), y = b.subarray(r * width, (r + 1) * width);
        const dot = x.reduce((s, v, i) => s + v * y[i], 0);
        want += dot / Math.hypot(...x) / Math.hypot(...y);
      }
      expect(meanRowCosine(a, b, width)).toBeCloseTo(want / rows, 12);
      expect(meanRowCosine(a, a, width)).toBeCloseTo(1, 12);
    }
    expect(meanRowCosine([0, 0, 1, 2], [0, 0, 1, 2], 2)).toBe(1); // both zero: equal
    expect(meanRowCosine([0, 0, 1, 2], [1, 0, 1, 2], 2)).toBeCloseTo(0.5, 12); // one zero: 0
    expect(() => meanRowCosine([1, 2, 3], [1, 2], 1)).toThrow(InvalidArgumentError);
  });

  it('normalizedDirection: each sample scaled to that sample\'s norm, reproducible per (seed, stream)', () => {
    const per = 23, x = Float32Array.from({ length: 3 * per }, (_, i) => (i < per ? 0.01 : i < 2 * per ? 5 : -1) * (1 + (i % 5)));
    const d = normalizedDirection(x, per, 4, 9);
    for (let s = 0; s < 3; s++) {
      const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v).slice(s * per, (s + 1) * per));
      expect(norm(d) / norm(x)).toBeCloseTo(1, 5);
    }
    expect(normalizedDirection(x, per, 4, 9)).toEqual(d);
    expect(normalizedDirection(x, per, 4, 10)).not.toEqual(d);
  });

  it('gridAxis: odd grids put 0 in the middle', () => {
    expect(gridAxis(0.2, 5)).toEqual([-0.2, -0.1, 0, 0.1, 0.2]);
    expect(gridAxis(1, 1)).toEqual([0]);
  });
});

describe('smoothness probe', () => {
  let skipModel: Model, plainModel: Model, dir: string;
  beforeAll(async () => {
    skipModel = await loadModel(bundledModel.path());
    dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-smooth-'));
    // a plain DiT (no skip branches) of the digits model's size, random weights
    const plain = path.join(dir, 'plain.safetensors');
    writeRandomCheckpoint(plain, normalizeConfig({ ...skipModel.config, skip: false }));
    plainModel = await loadModel(plain);
  });
  afterAll(() => {
    skipModel?.dispose();
    plainModel?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('probes a skip and a non-skip model: unperturbed centre exactly 1, every block, the step-to-step series', async () => {
    const r = await runSmoothnessProbe({
      models: [{ name: 'skip', model: skipModel }, { name: 'plain', model: plainModel }],
      sampler: 'ddim', steps: 6, at: [2, 6], grid: 3, radius: 0.1, labels: [0, 3, 7], seed: 1,
    });
    expect(r).toMatchObject({ sampler: 'ddim', steps: 6, at: [2, 6], radius: 0.1, samples: 3 });
    expect(r.alphas).toEqual([-0.1, 0, 0.1]);
    expect(r.rows.map((x) => [x.name, x.skip, x.depth])).toEqual([['skip', true, 6], ['plain', false, 6]]);
    for (const row of r.rows) {
      expect(row.probes.map((p) => p.step)).toEqual([2, 6]);
      expect(row.temporal).toHaveLength(5);
      for (const v of row.temporal) expect(Math.abs(v)).toBeLessThanOrEqual(1 + 1e-9);
      for (const p of row.probes) {
        expect(p.blockMean).toHaveLength(6);
        expect(p.deepSurface).toHaveLength(3);
        expect(p.deepSurface[1][1]).toBeCloseTo(1, 9); // the same input gives the same features
        expect(p.deepMin).toBeLessThan(1); // a 10% disturbance changes them
        expect(p.deepMean).toBeCloseTo(p.deepSurface.flat().reduce((a, b) => a + b) / 9, 12);
      }
    }
    // the same seed: the same surfaces
    const again = await runSmoothnessProbe({ models: [{ name: 'skip', model: skipModel }], sampler: 'ddim', steps: 6, at: [2, 6], grid: 3, radius: 0.1, labels: [0, 3, 7], seed: 1 });
    expect(again.rows[0].probes).toEqual(r.rows[0].probes);
    const png = PNG.sync.read(smoothnessPlotPng(r));
    expect(png.width).toBeGreaterThanOrEqual(500);
  });

  it('rejects bad options with typed errors naming them', async () => {
    const models = [{ name: 'skip', model: skipModel }];
    const bad = async (o: object, name: RegExp) => {
      const e = await runSmoothnessProbe({ models, sampler: 'ddim', steps: 4, labels: [1], ...o }).catch((x) => x);
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(String(e.message)).toMatch(name);
    };
    await bad({ at: [5] }, /at/);
    await bad({ at: [0] }, /at/);
    await bad({ grid: 4 }, /grid/);
    await bad({ radius: -1 }, /radius/);
    await bad({ models: [] }, /models/);
  });
});

describe('a cache on a plain DiT (the ablation baseline)', () => {
  it('caches: a cached call runs only the last k blocks on the saved feature; plain Latte still refuses', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-plain-cache-'));
    const skipModel = await loadModel(bundledModel.path());
    const plainFile = path.join(dir, 'plain.safetensors'), latteFile = path.join(dir, 'latte.safetensors');
    writeRandomCheckpoint(plainFile, normalizeConfig({ ...skipModel.config, skip: false }));
    writeRandomCheckpoint(latteFile, normalizeConfig({ family: 'latte', skip: false, input_size: 8, patch_size: 2, in_channels: 4, hidden_size: 32, depth: 4, num_heads: 2, num_classes: 3, num_frames: 2 }));
    skipModel.dispose();
    const plain = await loadModel(plainFile), latte = await loadModel(latteFile);
    try {
      expect(describeModel(plain.config).cached.map((c) => c.blocksExecuted)).toEqual([1, 2, 3]); // k blocks, nothing before them
      const cache = plain.createCache('dit:2:1');
      const x = { data: gaussianNoise(2 * 28 * 28, 5), shape: [2, 1, 28, 28] };
      const full = await plain.forward({ x, t: 500, y: [1, 2] }, { cache });
      const cached = await plain.forward({ x, t: 500, y: [1, 2] }, { cache });
      expect([full.cached, full.blocksExecuted, cached.cached, cached.blocksExecuted]).toEqual([false, 6, true, 1]);
      expect(cached.data).toEqual(full.data); // the same input: the last block on the saved feature gives the same output
      const moved = await plain.forward({ x, t: 400, y: [1, 2] }, { cache }); // full again (N = 2)
      const reused = await plain.forward({ x, t: 300, y: [1, 2] }, { cache });
      expect([moved.cached, reused.cached]).toEqual([false, true]);
      expect(reused.data).not.toEqual((await plain.forward({ x, t: 300, y: [1, 2] })).data); // stale deep feature, fresh t
      expect(() => latte.createCache('latte')).toThrow(/skip branches/);
    } finally {
      plain.dispose();
      latte.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('skipdit bench smoothness', () => {
  it('prints the table and writes the JSON report and the plot', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-smooth-cli-'));
    try {
      const plot = path.join(dir, 'smooth.png');
      const { stdout } = await cli('bench', 'smoothness', '--trajectory', 'ddim:5', '--at', '1,5', '--grid', '3', '--n', '2', '--plot', plot);
      expect(stdout).toMatch(/digits-skipdit \| yes\s+\| 1 /);
      expect(stdout).toMatch(/digits-skipdit \| yes\s+\| 5 /);
      expect(PNG.sync.read(readFileSync(plot)).width).toBeGreaterThan(0);
      const json = JSON.parse((await cli('bench', 'smoothness', '--trajectory', 'ddim:3', '--at', '2', '--grid', '1', '--n', '1', '--json')).stdout);
      expect(json.rows[0].probes[0].deepSurface).toEqual([[1]]);
      const bad = await cli('bench', 'smoothness', '--trajectory', 'ddim:3:dit:2:1').catch((e) => e);
      expect(String(bad.stderr ?? bad)).toMatch(/--trajectory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
