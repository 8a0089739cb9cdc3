// Hunyuan-DiT (Skip-DiT text-to-image/hydit) against the official golden vectors: test/fixtures/hunyuan-dit-tiny
// (README.md there gives the math and every case). Forward with every tap, a non-square latent (the round-half-to-even
// RoPE grid offset), the CFG call as the pipeline makes it, and the Skip-Cache state machine (hunyuan:2:1).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, describeModel, loadModel, type Model } from '../lib/index.js';
import { errorReport, relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases, mask, tensor } from './helpers/fixtures.js';
import type { StTensor } from './helpers/safetensors.js';

const NAME = 'hunyuan-dit-tiny';
// The README's bound is 1e-4 (the pooler's matmul layout); every case here is far below it
const TOL = 1e-5;
const { check, lines: report } = errorReport('hunyuan-dit', TOL, 44);


describe(NAME, () => {
  let model: Model;
  let cases: Record<string, StTensor>;
  beforeAll(async () => {
    model = await loadModel(fixturePath(NAME, 'model.safetensors'), { backend: 'cpu', config: { input_size: 8 } });
    cases = loadCases(NAME);
  });
  afterAll(() => model?.dispose());

  /** The text of a forward case: [BERT, mT5] with their tokenizer masks. */
  const text = (c: string) => [
    { states: tensor(cases[`${c}.encoder_hidden_states`]), mask: mask(cases[`${c}.text_embedding_mask`]) },
    { states: tensor(cases[`${c}.encoder_hidden_states_t5`]), mask: mask(cases[`${c}.text_embedding_mask_t5`]) },
  ];

  it('reads its config from the tensor shapes (heads from the qk-norm width, text sizes from the padding table)', () => {
    expect(model.config).toMatchObject({
      family: 'hunyuan-dit', hidden_size: 64, depth: 6, num_heads: 4, patch_size: 2, in_channels: 4, learn_sigma: true,
      text_states_dim: 24, text_len: 5, text_states_dim_t5: 32, text_len_t5: 7,
    });
    const d = describeModel(model.config);
    expect(d.params.find((p) => p.name === 'blocks.0.mlp.fc1.weight')?.shape).toEqual([279, 64]); // int(64 * 4.3637)
    // blocks 2 and 3 unpaired: 1 -> 4, 0 -> 5
    expect(d.skipPairs).toEqual([[0, 5], [1, 4]]);
  });

  it('the released DiT-g/2 v1.2 (t2i/model/pytorch_model_ema.pt): the 1,304 tensors of fixture.json, names and shapes', async () => {
    const { hunyuanV12Base } = await import('../lib/config.js');
    const released = JSON.parse(readFileSync(fixturePath(NAME, 'fixture.json'), 'utf8')).released_dit_g2['v1.2'] as { keys: Array<[string, number[]]>; num_params: number };
    const ours = describeModel({ ...hunyuanV12Base }).params.map((p) => [p.name, p.shape]);
    const sort = (a: Array<[string, number[]]>) => [...a].sort(([x], [y]) => x.localeCompare(y));
    expect(sort(ours as Array<[string, number[]]>)).toEqual(sort(released.keys));
    expect(ours.reduce((n, [, s]) => n + (s as number[]).reduce((a, b) => a * b, 1), 0)).toBe(released.num_params);
  });

  it('v1.1 (size and style conditions): the released architecture, config inference, forward and Pipeline', async () => {
    const { hunyuanV12Base } = await import('../lib/config.js');
    const { writeRandomCheckpoint } = await import('../lib/random-checkpoint.js');
    const { Pipeline } = await import('../lib/index.js');
    const released = JSON.parse(readFileSync(fixturePath(NAME, 'fixture.json'), 'utf8')).released_dit_g2['v1.1'] as { num_params: number; 'keys_differing_from_v1.2': Array<[string, number[]]> };
    const v11 = describeModel({ ...hunyuanV12Base, size_cond: true, style_cond: true }).params;
    for (const [name, shape] of released['keys_differing_from_v1.2']) expect(v11.find((p) => p.name === name)?.shape, name).toEqual(shape);
    expect(v11.length).toBe(1305);
    expect(v11.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0)).toBe(released.num_params);
    // a tiny v1.1: the conditions are read from the tensors, and image_meta_size changes the output
    const { mkdtempSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-hy11-'));
    try {
      const file = path.join(dir, 'v11.safetensors');
      writeRandomCheckpoint(file, { ...model.config, size_cond: true, style_cond: true });
      const m = await loadModel(file, { backend: 'cpu' });
      try {
        expect(m.config).toMatchObject({ size_cond: true, style_cond: true });
        const input = { x: tensor(cases['forward.x']), t: ints(cases['forward.t']), text: text('forward') };
        const meta = (w: number) => [1024, 1024, w, 64, 0, 0, 1024, 1024, w, 64, 0, 0];
        const a = await m.forward({ ...input, imageMetaSize: meta(64) });
        const b = await m.forward({ ...input, imageMetaSize: meta(128) });
        expect(a.data.every(Number.isFinite)).toBe(true);
        expect(relErr(a.data, b.data)).toBeGreaterThan(1e-4);
        await expect(m.forward(input)).rejects.toThrow(/imageMetaSize/);
        const pipe = new Pipeline(m, { steps: 3, cfgScale: 6 });
        expect((pipe.sampler as { config: { betaEnd: number } }).config.betaEnd).toBe(0.03); // sample_t2i.py --beta-end 0.03 for v1.1
        const pair = (c: string) => [
          { states: { data: f32(cases[`${c}.prompt_states`]), shape: cases[`${c}.prompt_states`].shape }, mask: mask(cases[`${c}.prompt_mask`]) },
          { states: { data: f32(cases[`${c}.prompt_states_t5`]), shape: cases[`${c}.prompt_states_t5`].shape }, mask: mask(cases[`${c}.prompt_mask_t5`]) },
        ] as never;
        pipe.init({ text: [pair('ddpm')], negativeText: [pair('ddpm')], size: [64, 64], seed: 2 });
        expect((await pipe.run()).data.every(Number.isFinite)).toBe(true);
      } finally {
        m.dispose();
      }
      await expect(model.forward({ x: tensor(cases['forward.x']), t: ints(cases['forward.t']), text: text('forward'), imageMetaSize: [0, 0, 0, 0, 0, 0] })).rejects.toThrow(/imageMetaSize/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const c of ['forward', 'forward_nonsquare']) {
    it(`${c}: output and every tap`, async () => {
      const r = await model.forward({ x: tensor(cases[`${c}.x`]), t: ints(cases[`${c}.t`]), text: text(c) }, { taps: true });
      expect(r.shape).toEqual(cases[`${c}.out`].shape);
      check(`${c}.out`, r.data, f32(cases[`${c}.out`]));
      for (const tap of ['t_freq', 't_emb', 't5_proj', 'text_states', 'pooled', 'extra_emb', 'c', 'tokens', 'attn1_out', 'attn2_out', 'mlp_out', 'skip_fused', 'blocks_out', 'final_tokens']) {
        const expected = cases[`${c}.tap_${tap}`];
        // (the pooler's c_proj output is (B, 1, 1024); the official tap is its (B, 1024) view)
        const shape = tap === 'pooled' ? [expected.shape[0], 1, expected.shape[1]] : expected.shape;
        expect(r.taps?.[tap]?.shape, tap).toEqual(shape);
        check(`${c}.tap_${tap}`, r.taps![tap].data, f32(expected));
      }
    });
  }

  it('cfg: the first step of sample_t2i.py, [negative, prompt] rows, the first C channels guided', async () => {
    const rows = (name: string) => tensor(cases[`cfg.model_in_${name}`]);
    const x = rows('x');
    const t = ints(cases['cfg.model_in_t']);
    const input = {
      x, t,
      text: [{ states: rows('states'), mask: mask(cases['cfg.model_in_mask']) }, { states: rows('states_t5'), mask: mask(cases['cfg.model_in_mask_t5']) }],
    };
    const raw = await model.forward(input);
    check('cfg.out_raw', raw.data, f32(cases['cfg.out_raw']));
    const guided = await model.forwardWithCfg({ ...input, cfgScale: f32(cases['cfg.cfg_scale'])[0] });
    // the guided v: the first C channels of the first n rows (both halves hold it)
    const [n, C, H, W] = cases['cfg.out'].shape;
    const out = new Float32Array(n * C * H * W);
    for (let i = 0; i < n; i++) out.set(guided.data.subarray(i * 2 * C * H * W, (i * 2 + 1) * C * H * W), i * C * H * W);
    check('cfg.out (guided v)', out, f32(cases['cfg.out']));
  });

  it('cacheseq_n2_k1: the official state machine (full if count % 2 == 0 or t >= 700, reset after t <= 50)', async () => {
    const cache = model.createCache('hunyuan:2:1');
    const c = 'cacheseq_n2_k1';
    const x = cases[`${c}.x`], out = cases[`${c}.out`], full = ints(cases[`${c}.full_step`]), t = ints(cases[`${c}.t`]);
    for (let j = 0; j < t.length; j++) {
      const r = await model.forward({ x: { data: slice(f32(x), x.shape, j), shape: x.shape.slice(1) }, t: t[j], text: text(c) }, { cache });
      expect(r.cached ? 0 : 1, `call ${j} (t = ${t[j]})`).toBe(full[j]);
      check(`${c}.out[${j}]`, r.data, slice(f32(out), out.shape, j));
    }
  });

  it('bf16 weights on CPU: within bf16 accuracy of the fp32 fixture (the error is measured, not zero)', async () => {
    const m = await loadModel(fixturePath(NAME, 'model.safetensors'), { backend: 'cpu', dtype: 'bfloat16', config: { input_size: 8 } });
    try {
      const r = await m.forward({ x: tensor(cases['forward_nonsquare.x']), t: ints(cases['forward_nonsquare.t']), text: text('forward_nonsquare') });
      const err = relErr(r.data, f32(cases['forward_nonsquare.out']));
      report.push(`  ${'forward_nonsquare.out, bf16 weights (info)'.padEnd(44)} ${err.toExponential(2)}`);
      expect(err).toBeGreaterThan(1e-6);
      expect(err).toBeLessThan(2e-2);
    } finally {
      m.dispose();
    }
  });

  it('bad input: typed errors', async () => {
    const x = tensor(cases['forward.x']);
    const t = ints(cases['forward.t']);
    await expect(model.forward({ x, t })).rejects.toThrow(InvalidArgumentError);
    await expect(model.forward({ x, t, text: text('forward').slice(0, 1) })).rejects.toThrow(/text/);
    const [bert, t5] = text('forward');
    await expect(model.forward({ x, t, text: [bert, { states: t5.states }] })).rejects.toThrow(/mask/);
    await expect(model.forward({ x, t, text: [bert, { ...t5, mask: { data: new Float32Array(14).fill(2), shape: [2, 7] } }] })).rejects.toThrow(/0 or 1/);
    await expect(model.forward({ x: { data: new Float32Array(2 * 4 * 7 * 8), shape: [2, 4, 7, 8] }, t, text: text('forward') })).rejects.toThrow(/multiples of the patch/);
  });
});
