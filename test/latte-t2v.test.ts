// LatteT2V / LatteT2V_skip (text-to-video) forward against the official golden vectors (relative error <= 1e-5):
// test/fixtures/latte-t2v-skip-tiny (README.md there gives the math and every case).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, loadModel, type Model } from '../lib/index.js';
import { writeSafetensors } from '../lib/safetensors.js';
import { relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases, tensor } from './helpers/fixtures.js';
import { readSafetensors, type StTensor } from './helpers/safetensors.js';

const NAME = 'latte-t2v-skip-tiny';
const TOL = 1e-5;
// video_length is not in the diffusers config of the file (the official sample script passes it)
const CONFIG = { num_frames: 3 };
const report: string[] = [];
afterAll(() => console.log('\nlatte-t2v max relative errors (max|a-b|/max|b|):\n' + report.join('\n')));

function check(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>) {
  const err = relErr(actual, expected);
  report.push(`  ${label.padEnd(48)} ${err.toExponential(2)}`);
  expect(err, label).toBeLessThanOrEqual(TOL);
}


describe(NAME, () => {
  let model: Model;
  let cases: Record<string, StTensor>;
  beforeAll(async () => {
    model = await loadModel(fixturePath(NAME, 'model.safetensors'), { backend: 'cpu', config: CONFIG });
    cases = loadCases(NAME);
  });
  afterAll(() => model?.dispose());

  it('reads its config from the tensors and the diffusers metadata', () => {
    expect(model.config).toMatchObject({
      family: 'latte-t2v', skip: true, hidden_size: 24, num_heads: 2, depth: 56, input_size: 8, patch_size: 2,
      in_channels: 4, learn_sigma: true, caption_channels: 32, num_frames: 3, num_classes: 0,
    });
  });

  it('forward output and every intermediate tap', async () => {
    const r = await model.forward(
      { x: tensor(cases['forward.x']), t: ints(cases['forward.t']), text: tensor(cases['forward.encoder_hidden_states']) },
      { taps: true },
    );
    expect(r.shape).toEqual(cases['forward.out'].shape);
    check('forward.out', r.data, f32(cases['forward.out']));
    const taps: Record<string, string> = {
      t_freq: 't_freq', t_emb: 't_emb', t_mod: 't_mod', caption: 'caption', tokens: 'tokens', temporal_in0: 'temporal_in0',
      spatial_out: 'spatial_out', temporal_out: 'temporal_out', skip_fused: 'skip_fused', final_tokens: 'final_tokens',
    };
    for (const [ours, theirs] of Object.entries(taps)) {
      const expected = cases[`forward.tap_${theirs}`];
      expect(r.taps?.[ours]?.shape, ours).toEqual(expected.shape);
      check(`forward.tap_${theirs}`, r.taps![ours].data, f32(expected));
    }
    // per block too (a regression names its block)
    const spatial = cases['forward.tap_spatial_out'];
    for (let i = 0; i < spatial.shape[0]; i++) {
      expect(relErr(slice(r.taps!.spatial_out.data, r.taps!.spatial_out.shape, i), slice(f32(spatial), spatial.shape, i)), `spatial_out[${i}]`).toBeLessThanOrEqual(TOL);
    }
  });

  it('forward with an encoder_attention_mask (-10000 on padded text tokens)', async () => {
    const mask = cases['forward_mask.encoder_attention_mask'];
    const r = await model.forward({
      x: tensor(cases['forward_mask.x']), t: ints(cases['forward_mask.t']), text: tensor(cases['forward_mask.encoder_hidden_states']),
      textMask: { data: Float32Array.from(ints(mask)), shape: mask.shape },
    });
    check('forward_mask.out', r.data, f32(cases['forward_mask.out']));
    // the mask matters: without it the padded row differs
    const plain = await model.forward({ x: tensor(cases['forward_mask.x']), t: ints(cases['forward_mask.t']), text: tensor(cases['forward_mask.encoder_hidden_states']) });
    expect(relErr(plain.data, f32(cases['forward_mask.out']))).toBeGreaterThan(1e-3);
  });

  it('a single frame (no temporal position embedding)', async () => {
    const r = await model.forward({ x: tensor(cases['forward_image.x']), t: ints(cases['forward_image.t']), text: tensor(cases['forward_image.encoder_hidden_states']) });
    expect(r.shape).toEqual(cases['forward_image.out'].shape);
    check('forward_image.out', r.data, f32(cases['forward_image.out']));
  });

  it('plain LatteT2V (no skip modules)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-t2v-'));
    try {
      const file = readSafetensors(fixturePath(NAME, 'model.safetensors'));
      const kept = Object.fromEntries(
        Object.entries(file.tensors).filter(([k]) => !k.startsWith('skip_')).map(([k, v]) => [k, { shape: v.shape, data: f32(v) }]),
      );
      const plainFile = path.join(dir, 'plain.safetensors');
      writeSafetensors(plainFile, kept, file.metadata);
      const plain = await loadModel(plainFile, { backend: 'cpu', config: CONFIG });
      try {
        expect(plain.config.skip).toBe(false);
        const r = await plain.forward({ x: tensor(cases['forward_plain.x']), t: ints(cases['forward_plain.t']), text: tensor(cases['forward_plain.encoder_hidden_states']) });
        check('forward_plain.out', r.data, f32(cases['forward_plain.out']));
      } finally {
        plain.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validates the text inputs with typed errors', async () => {
    const x = tensor(cases['forward.x']);
    const t = ints(cases['forward.t']);
    const text = tensor(cases['forward.encoder_hidden_states']);
    await expect(model.forward({ x, t })).rejects.toThrow(InvalidArgumentError);
    await expect(model.forward({ x, t, text: { data: text.data.slice(0, 2 * 6 * 16), shape: [2, 6, 16] } })).rejects.toThrow(/text\.shape/);
    await expect(model.forward({ x, t, text, textMask: { data: new Float32Array(12).fill(2), shape: [2, 6] } })).rejects.toThrow(/textMask/);
    await expect(model.forward({ x, t, text, textMask: { data: new Float32Array(10), shape: [2, 5] } })).rejects.toThrow(/textMask\.shape/);
    await expect(model.forward({ x: { data: new Float32Array(2 * 4 * 2 * 64), shape: [2, 4, 2, 8, 8] }, t, text })).rejects.toThrow(/x\.shape/);
  });
});

describe('LatteT2V config', () => {
  it('the released Latte-0 transformer (LatteT2V_skip, video_length 16): 1024 tensors, 1,094,977,952 parameters', async () => {
    const { describeModel } = await import('../lib/architecture.js');
    const { latteT2VBase } = await import('../lib/config.js');
    const d = describeModel({ ...latteT2VBase });
    expect(d.params.length).toBe(1024);
    expect(d.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0)).toBe(1094977952);
    const plain = describeModel({ ...latteT2VBase, skip: false });
    expect(plain.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0)).toBe(1057738400);
    // the depth-28 pairing: pair 13 - j (block 27 - 2j) feeds pair 14 + j (block 28 + 2j)
    expect(d.skipPairs[0]).toEqual([27, 28]);
    expect(d.skipPairs[13]).toEqual([1, 54]);
  });
});
