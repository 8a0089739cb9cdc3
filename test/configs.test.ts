// The same API on architectures unlike the fixtures' (other hidden sizes, head counts, patch sizes,
// in-channels, depths, learn_sigma off, plain and skip, conditional and unconditional Latte), checked
// against the independent float64 reference forward of test/reference/model.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, normalizeConfig, type ModelConfig } from '../lib/index.js';
import { randn, relErr } from './helpers/compare.js';
import { f32, ints, loadCases, loadFixtureModel } from './helpers/fixtures.js';
import { writeSafetensors } from './helpers/safetensors.js';
import { randomWeights, referenceForward } from './reference/model.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-configs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const report: string[] = [];
afterAll(() => console.log('\nnative vs float64 reference (max relative error):\n' + report.join('\n')));

describe('reference model', () => {
  it('itself matches the official fixtures (so it can judge other configs)', () => {
    for (const name of ['dit-skip-tiny', 'latte-skip-tiny'] as const) {
      const { config, weights } = loadFixtureModel(name);
      const cases = loadCases(name);
      const out = referenceForward(config, weights, f32(cases['forward.x']), Array.from(f32(cases['forward.t'])), ints(cases['forward.y']));
      expect(relErr(out, f32(cases['forward.out']))).toBeLessThan(1e-5);
    }
  });
});

const configs: Array<{ label: string; batch: number; config: Partial<ModelConfig> }> = [
  {
    label: 'plain DiT, odd depth 3, D=48, 3 heads (hd 16), patch 4, 12x12, 3 channels, no learn_sigma',
    batch: 3,
    config: { family: 'dit', skip: false, depth: 3, hidden_size: 48, num_heads: 3, patch_size: 4, input_size: 12, in_channels: 3, learn_sigma: false, num_classes: 7 },
  },
  {
    label: 'DiT-skip depth 6, D=72, 1 head (hd 72), patch 1, 5x5, 1 channel, mlp_ratio 2.5',
    batch: 2,
    config: { family: 'dit', skip: true, depth: 6, hidden_size: 72, num_heads: 1, patch_size: 1, input_size: 5, in_channels: 1, mlp_ratio: 2.5, num_classes: 3 },
  },
  {
    label: 'DiT-skip depth 12, D=96, 6 heads, patch 2, 16x16 (64 tokens), classes without null row',
    batch: 1,
    config: { family: 'dit', skip: true, depth: 12, hidden_size: 96, num_heads: 6, patch_size: 2, input_size: 16, in_channels: 4, num_classes: 20, class_dropout: false },
  },
  {
    label: 'unconditional Latte-skip depth 4, D=32, 2 heads, 3 frames, 2 channels, no learn_sigma',
    batch: 2,
    config: { family: 'latte', skip: true, depth: 4, hidden_size: 32, num_heads: 2, patch_size: 2, input_size: 6, in_channels: 2, num_frames: 3, num_classes: 0, class_dropout: false, learn_sigma: false },
  },
  {
    label: 'plain Latte depth 2, D=40, 5 heads (hd 8), patch 3, 9x9, 5 frames',
    batch: 1,
    config: { family: 'latte', skip: false, depth: 2, hidden_size: 40, num_heads: 5, patch_size: 3, input_size: 9, in_channels: 4, num_frames: 5, num_classes: 4 },
  },
  {
    label: 'Latte-skip depth 12, D=48, 4 heads, 7 frames, 3 channels',
    batch: 2,
    config: { family: 'latte', skip: true, depth: 12, hidden_size: 48, num_heads: 4, patch_size: 2, input_size: 4, in_channels: 3, num_frames: 7, num_classes: 9 },
  },
];

describe('configs unlike the fixtures', () => {
  configs.forEach(({ label, batch, config: partial }, index) => {
    it(label, async () => {
      const config = normalizeConfig(partial);
      const weights = randomWeights(config, randn);
      const file = path.join(dir, `model-${index}.safetensors`);
      // metadata in the official constructor names, as convert/the fixtures write it
      const meta: Record<string, unknown> = { ...config };
      delete meta.family;
      delete meta.skip;
      writeSafetensors(file, weights, { config: JSON.stringify(meta) });

      const model = await loadModel(file, { backend: 'cpu' });
      expect(model.config).toEqual(config);
      const F = config.family === 'latte' ? config.num_frames : 1;
      const shape = config.family === 'latte'
        ? [batch, F, config.in_channels, config.input_size, config.input_size]
        : [batch, config.in_channels, config.input_size, config.input_size];
      const x = randn(shape.reduce((a, b) => a * b, 1), 99 + index);
      const t = Array.from({ length: batch }, (_, i) => [999, 3.5, 500][i % 3]);
      const y = config.num_classes > 0 ? Array.from({ length: batch }, (_, i) => (i * 5) % config.num_classes) : undefined;
      const r = await model.forward({ x: { data: x, shape }, t, y });
      const Cout = config.learn_sigma ? 2 * config.in_channels : config.in_channels;
      expect(r.shape).toEqual(config.family === 'latte'
        ? [batch, F, Cout, config.input_size, config.input_size]
        : [batch, Cout, config.input_size, config.input_size]);
      const w = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v.data]));
      const err = relErr(r.data, referenceForward(config, w, x, t, y ?? null));
      report.push(`  ${label.padEnd(100)} ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-5);

      // an explicit config overrides the metadata; loading twice gives identical results
      const again = await loadModel(file, { config: partial, backend: 'cpu' });
      expect((await again.forward({ x: { data: x, shape }, t, y })).data).toEqual(r.data);
      again.dispose();
      model.dispose();
    });
  });
});
