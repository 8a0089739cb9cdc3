// The quality-vs-speed harness (lib/quality.ts, `skipdit bench quality`) on the bundled digits model.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, bundledModel, loadModel } from '../lib/index.js';
import { formatQualityTable, markPareto, parseSetting, qualityPlotPng, runQualityBench, type QualityRow } from '../lib/quality.js';
import { digitsClassifier, loadDigits, psnr, relativeL2, ssim } from '../lib/quality-metrics.js';
import { cli } from './helpers/cli.js';

describe('quality metrics', () => {
  it('PSNR, SSIM and the relative L2 error of known images', () => {
    const a = Float32Array.from({ length: 28 * 28 }, (_, i) => (i % 28) / 27);
    expect(psnr(a, a)).toBe(Infinity);
    expect(ssim(a, a, 28, 28)).toBeCloseTo(1, 12);
    const b = a.map((v) => v + 0.1);
    expect(psnr(a, b)).toBeCloseTo(20, 4); // mse 0.01
    expect(ssim(a, a.map((v) => 1 - v), 28, 28)).toBeLessThan(0);
    expect(relativeL2([3, 4], [0, 5])).toBeCloseTo(Math.sqrt(9 + 1) / 5, 12);
  });

  it('the k-NN digits classifier reads real test digits (when the mnist package is installed)', () => {
    const data = loadDigits();
    if (!data) return;
    const classify = digitsClassifier(data);
    const n = 100;
    const right = data.test.x.slice(0, n).filter((x, i) => classify(x) === data.test.y[i]).length;
    expect(right / n).toBeGreaterThan(0.85);
  });
});

describe('skipdit bench quality', () => {
  it('parses settings and refuses bad ones', () => {
    expect(parseSetting('ddim:50')).toEqual({ sampler: 'ddim', steps: 50, cache: 'none' });
    expect(parseSetting('dpmsolver++:10:dit:auto:0.06:4:1')).toEqual({ sampler: 'dpmsolver++', steps: 10, cache: 'dit:auto:0.06:4:1' });
    for (const bad of ['euler:10', 'ddim:0', 'ddim:x']) expect(() => parseSetting(bad)).toThrow(InvalidArgumentError);
  });

  it('marks the Pareto front of (speedup, PSNR)', () => {
    const row = (speedup: number, p: number) => ({ speedup, psnr: p, latentRelError: 0, pareto: false }) as QualityRow;
    const rows = [row(1, Infinity), row(2, 40), row(3, 30), row(2.5, 29), row(3, 35)];
    markPareto(rows);
    expect(rows.map((r) => r.pareto)).toEqual([true, true, false, false, true]);
  });

  it('runs settings against the reference: speedups, FLOP predictions, fidelity, accuracy, plot', async () => {
    const model = await loadModel(bundledModel.path());
    try {
      const data = loadDigits();
      const labels = [0, 1, 2, 3];
      const r = await runQualityBench({
        model, labels, cfgScale: 3, reference: parseSetting('ddim:20'), classify: data ? digitsClassifier(data) : undefined,
        settings: ['ddim:10', 'ddim:20:dit:2:1', 'dpmsolver++:10:dit:auto:0.06:4:1'].map(parseSetting),
      });
      expect(r.rows.map((x) => x.setting)).toEqual(['DDIM 20 (reference)', 'DDIM 10', 'DDIM 20 dit:2:1', 'DPM++ 10 dit:auto:0.06:4:1']);
      expect(r.rows[0]).toMatchObject({ psnr: Infinity, ssim: 1, latentRelError: 0, speedup: 1, predictedSpeedup: 1, pareto: true });
      expect(r.rows[1].predictedSpeedup).toBeCloseTo(2, 12); // half the calls, all full
      expect(r.rows[2].cachedSteps).toBeGreaterThan(0);
      expect(r.rows[2].predictedSpeedup).toBeGreaterThan(1.2);
      for (const row of r.rows.slice(1)) {
        expect(row.psnr).toBeGreaterThan(15);
        expect(row.ssim).toBeGreaterThan(0.5);
        expect(row.latentRelError).toBeGreaterThan(0);
        if (data) expect(row.accuracy).toBeGreaterThanOrEqual(0);
      }
      expect(formatQualityTable(r)).toMatch(/\| 3 \| DPM\+\+ 10 dit:auto:0\.06:4:1 \|/);
      const png = PNG.sync.read(qualityPlotPng(r));
      expect([png.width, png.height]).toEqual([720, 480]);
    } finally {
      model.dispose();
    }
  });

  it('the CLI writes the table and the plot', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-quality-'));
    try {
      const plot = path.join(dir, 'q.png');
      const { stdout } = await cli('bench', 'quality', '--settings', 'ddim:10,dpmsolver++:10', '--reference', 'ddim:20', '--n', '10', '--plot', plot);
      expect(stdout).toMatch(/reference DDIM 20/);
      expect(stdout).toMatch(/\| 2 \| DPM\+\+ 10/);
      expect(readFileSync(plot).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
