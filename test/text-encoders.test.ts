// The T5 v1.1 / mT5 and BERT text encoders against test/fixtures/{t5,bert}-encoder-tiny (transformers v4.39.1):
// every case's last_hidden_state and per-layer taps in float32 on the CPU, bf16 weights measured, the weight
// naming variants (tied T5 embedding, decoder / pooler / heads ignored, bert. prefix), bad inputs and files,
// abort, dispose, encodeText with a tokenizer.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, CheckpointError, DisposedError, InvalidArgumentError, loadTextEncoder, parseTextEncoderConfig,
  type IdsTensor, type TextEncoderModel, type TextTokenizer,
} from '../lib/index.js';
import { native } from '../lib/native.js';
import { cli } from './helpers/cli.js';
import { randn, relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, fixturesDir, ints, loadCases } from './helpers/fixtures.js';
import { readSafetensors, writeSafetensors } from './helpers/safetensors.js';
import { FIXTURE_TOL_CPU } from './helpers/tolerances.js';
import { roundBf16 } from './reference/ops.js';
import { roundF16 } from './helpers/op-cases.js';
import { referenceBert, referenceT5, t5Bucket, type BertConfig, type T5Config } from './reference/text-encoders.js';

const T5 = 't5-encoder-tiny', BERT = 'bert-encoder-tiny';
const dirOf = (name: string) => path.dirname(fixturePath(name, 'config.json'));
const configOf = (name: string) => JSON.parse(readFileSync(fixturePath(name, 'config.json'), 'utf8'));
const weightsOf = (name: string) => Object.fromEntries(Object.entries(readSafetensors(fixturePath(name, 'model.safetensors')).tensors).map(([k, v]) => [k, f32(v)]));
const t5Cases = loadCases(T5), bertCases = loadCases(BERT);
const tmp = mkdtempSync(path.join(tmpdir(), 'skipdit-textenc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const report: string[] = [];
afterAll(() => console.log('\nText encoders vs fixtures (max relative error):\n' + report.join('\n')));

/** A case's ids / mask as API tensors. */
function caseInput(cases: Record<string, ReturnType<typeof loadCases>[string]>, c: string): { ids: IdsTensor; mask?: IdsTensor } {
  const idsT = cases[`${c}.input_ids`];
  const ids = { data: Int32Array.from(ints(idsT)), shape: idsT.shape };
  const m = cases[`${c}.attention_mask`];
  return m ? { ids, mask: { data: Int32Array.from(ints(m)), shape: m.shape } } : { ids };
}

/** hidden_states[j] of a stacked [N+1, B, L, D] tensor. */
const hiddenState = (cases: Record<string, ReturnType<typeof loadCases>[string]>, c: string, j: number) =>
  slice(f32(cases[`${c}.hidden_states`]), cases[`${c}.hidden_states`].shape, j);

/** A folder holding config.json (the fixture's, or `config`) and `tensors` as model.safetensors. */
function folder(name: string, tensors: Record<string, Float32Array | { data: Float32Array | BigInt64Array; shape: number[] }> | null, config?: unknown): string {
  const dir = mkdtempSync(path.join(tmp, 'enc-'));
  writeFileSync(path.join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config ?? configOf(name)));
  if (tensors) {
    const shapes = readSafetensors(fixturePath(name, 'model.safetensors')).tensors;
    const named: Record<string, { data: Float32Array | BigInt64Array; shape: number[] }> = {};
    for (const [k, v] of Object.entries(tensors)) named[k] = v instanceof Float32Array ? { data: v, shape: (shapes[k] ?? { shape: [v.length] }).shape } : v;
    writeSafetensors(path.join(dir, 'model.safetensors'), named);
  }
  return dir;
}

describe('T5 v1.1 encoder (T5EncoderModel)', () => {
  let enc: TextEncoderModel;
  beforeAll(async () => {
    enc = await loadTextEncoder(dirOf(T5), { backend: 'cpu' });
  });
  afterAll(() => enc.dispose());

  it('reads config.json: family, sizes, the no-limit length', () => {
    expect(enc.config).toMatchObject({ family: 't5', model_type: 't5', d_model: 64, d_kv: 16, num_heads: 4, d_ff: 96, num_layers: 3, vocab_size: 1152 });
    expect(enc.hiddenSize).toBe(64);
    expect(enc.maxLength).toBe(Infinity);
    expect(enc.memory().weightBytes).toBeGreaterThan(0);
  });

  for (const c of ['mask_batch', 'long150', 'no_mask', 'e2e_latte']) {
    it(`${c}: last_hidden_state, hidden_states, every block's attention residual and output, the position bias`, async () => {
      const input = caseInput(t5Cases, c);
      const r = await enc.forward(input, { taps: true });
      const [B, L] = input.ids.shape;
      expect(r.shape).toEqual([B, L, 64]);
      const errors: Record<string, number> = { last_hidden_state: relErr(r.data, f32(t5Cases[`${c}.last_hidden_state`])) };
      const taps = r.taps!;
      if (t5Cases[`${c}.tap_layer_out`]) {
        errors.embedding = relErr(taps.embedding.data, hiddenState(t5Cases, c, 0));
        errors.layer_out = relErr(taps.layer_out.data, f32(t5Cases[`${c}.tap_layer_out`]));
        errors.attn_residual = relErr(taps.attn_residual.data, f32(t5Cases[`${c}.tap_attn_residual`]));
        errors.position_bias = relErr(taps.position_bias.data, f32(t5Cases[`${c}.tap_position_bias`]));
        for (let j = 1; j < 3; j++) errors[`hidden_states[${j}]`] = relErr(slice(taps.layer_out.data, taps.layer_out.shape, j - 1), hiddenState(t5Cases, c, j));
        errors['hidden_states[3]'] = relErr(r.data, hiddenState(t5Cases, c, 3));
        expect(taps.layer_out.shape).toEqual([3, B, L, 64]);
        expect(taps.position_bias.shape).toEqual([1, 4, L, L]);
      }
      report.push(`  t5 ${c.padEnd(11)} ${Object.entries(errors).map(([k, e]) => `${k} ${e.toExponential(2)}`).join(', ')}`);
      for (const [k, e] of Object.entries(errors)) expect(e, k).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    });
  }

  it('an all-ones mask gives the same bits as no mask ((1 - 1) * finfo.min adds nothing)', async () => {
    const { ids } = caseInput(t5Cases, 'no_mask');
    const a = await enc.forward({ ids });
    const b = await enc.forward({ ids, mask: { data: new Int32Array(ids.data.length).fill(1), shape: ids.shape } });
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });

  it('rows are independent: a batch equals its rows run alone (float32 rounding only)', async () => {
    const { ids, mask } = caseInput(t5Cases, 'mask_batch');
    const all = await enc.forward({ ids, mask });
    const L = ids.shape[1];
    for (let b = 0; b < 3; b++) {
      const row = await enc.forward({ ids: { data: ids.data.slice(b * L, (b + 1) * L), shape: [1, L] }, mask: { data: mask!.data.slice(b * L, (b + 1) * L), shape: [1, L] } });
      expect(relErr(row.data, all.data.subarray(b * L * 64, (b + 1) * L * 64))).toBeLessThanOrEqual(1e-6);
    }
  });

  it('the float64 JS reference (bucket table in float32 math) matches the fixture', () => {
    const cfg = configOf(T5) as T5Config;
    const buckets = t5Cases['long150.tap_bucket'];
    const L = buckets.shape[0];
    const got: number[] = [];
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) got.push(t5Bucket(j - i, cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance));
    expect(got).toEqual(ints(buckets));
    for (const c of ['mask_batch', 'no_mask']) {
      const { ids, mask } = caseInput(t5Cases, c);
      const ref = referenceT5(cfg, weightsOf(T5), Array.from(ids.data), mask ? Array.from(mask.data) : null, ids.shape[0], ids.shape[1]);
      const err = relErr(ref.out, f32(t5Cases[`${c}.last_hidden_state`]));
      report.push(`  t5 JS float64 reference ${c} ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    }
  });
});

describe('BERT (BertModel without pooler)', () => {
  let enc: TextEncoderModel;
  beforeAll(async () => {
    enc = await loadTextEncoder(dirOf(BERT), { backend: 'cpu' });
  });
  afterAll(() => enc.dispose());

  it('reads config.json; the position table bounds the length', () => {
    expect(enc.config).toMatchObject({ family: 'bert', hidden_size: 64, num_attention_heads: 4, intermediate_size: 128, num_hidden_layers: 3, max_position_embeddings: 80 });
    expect(enc.maxLength).toBe(80);
  });

  for (const c of ['mask_batch', 'short_nomask', 'e2e_hunyuan']) {
    it(`${c}: last_hidden_state and every hidden state (the checkpoint's pooler ignored)`, async () => {
      const input = caseInput(bertCases, c);
      const r = await enc.forward(input, { taps: true });
      const [B, L] = input.ids.shape;
      expect(r.shape).toEqual([B, L, 64]);
      const errors: Record<string, number> = { last_hidden_state: relErr(r.data, f32(bertCases[`${c}.last_hidden_state`])) };
      if (bertCases[`${c}.hidden_states`]) {
        errors['hidden_states[0]'] = relErr(r.taps!.embedding.data, hiddenState(bertCases, c, 0));
        for (let j = 1; j <= 3; j++) errors[`hidden_states[${j}]`] = relErr(slice(r.taps!.layer_out.data, r.taps!.layer_out.shape, j - 1), hiddenState(bertCases, c, j));
      }
      report.push(`  bert ${c.padEnd(12)} ${Object.entries(errors).map(([k, e]) => `${k} ${e.toExponential(2)}`).join(', ')}`);
      for (const [k, e] of Object.entries(errors)) expect(e, k).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    });
  }

  it('the float64 JS reference matches the fixture', () => {
    const cfg = configOf(BERT) as BertConfig;
    for (const c of ['mask_batch', 'short_nomask']) {
      const { ids, mask } = caseInput(bertCases, c);
      const ref = referenceBert(cfg, weightsOf(BERT), Array.from(ids.data), mask ? Array.from(mask.data) : null, ids.shape[0], ids.shape[1]);
      const err = relErr(ref.out, f32(bertCases[`${c}.last_hidden_state`]));
      report.push(`  bert JS float64 reference ${c} ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    }
  });
});

describe('configs unlike the fixtures, against the float64 JS reference (random weights)', () => {
  /** Random weights for every parameter name and shape, written as a folder with `config`. */
  function randomFolder(config: Record<string, unknown>, shapes: Record<string, number[]>, seed: number): { dir: string; weights: Record<string, Float32Array> } {
    const weights: Record<string, Float32Array> = {};
    let i = 0;
    for (const [name, shape] of Object.entries(shapes)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const norm = name.includes('norm') || name.includes('LayerNorm.weight');
      const w = randn(n, seed + i++, norm ? 0.1 : 1 / Math.sqrt(shape.at(-1)!));
      if (norm && name.endsWith('weight')) for (let j = 0; j < n; j++) w[j] += 1;
      weights[name] = w;
    }
    const dir = mkdtempSync(path.join(tmp, 'random-'));
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    writeSafetensors(path.join(dir, 'model.safetensors'), Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, { data: v, shape: shapes[k] }])));
    return { dir, weights };
  }

  it('T5: heads * d_kv != d_model (3 x 20 for 48), d_ff 40, 2 blocks, 16 buckets up to distance 20, lengths past it', async () => {
    const c = { model_type: 't5', architectures: ['T5EncoderModel'], vocab_size: 50, d_model: 48, d_kv: 20, num_heads: 3, d_ff: 40, num_layers: 2,
      layer_norm_epsilon: 1e-6, relative_attention_num_buckets: 16, relative_attention_max_distance: 20, feed_forward_proj: 'gated-gelu' };
    const shapes: Record<string, number[]> = { 'shared.weight': [50, 48], 'encoder.final_layer_norm.weight': [48],
      'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight': [16, 3] };
    for (let l = 0; l < 2; l++) {
      const p = `encoder.block.${l}.layer.`;
      for (const x of ['q', 'k', 'v']) shapes[`${p}0.SelfAttention.${x}.weight`] = [60, 48];
      Object.assign(shapes, { [`${p}0.SelfAttention.o.weight`]: [48, 60], [`${p}0.layer_norm.weight`]: [48], [`${p}1.layer_norm.weight`]: [48],
        [`${p}1.DenseReluDense.wi_0.weight`]: [40, 48], [`${p}1.DenseReluDense.wi_1.weight`]: [40, 48], [`${p}1.DenseReluDense.wo.weight`]: [48, 40] });
    }
    const { dir, weights } = randomFolder(c, shapes, 100);
    const enc = await loadTextEncoder(dir, { backend: 'cpu' });
    const B = 2, L = 37;
    const ids = Array.from({ length: B * L }, (_, i) => (i * 7 + 3) % 50);
    const mask = Array.from({ length: B * L }, (_, i) => (i % L < (i < L ? L : 21) ? 1 : 0));
    const r = await enc.forward({ ids: { data: Int32Array.from(ids), shape: [B, L] }, mask: { data: Int32Array.from(mask), shape: [B, L] } });
    const err = relErr(r.data, referenceT5(c as unknown as T5Config, weights, ids, mask, B, L).out);
    report.push(`  t5 random config (inner 60 != d_model 48) vs JS float64 ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    enc.dispose();
  });

  it('BERT: 3 heads of 16, intermediate 80, one token type, 2 layers, a full-length and a padded row', async () => {
    const c = { model_type: 'bert', vocab_size: 60, hidden_size: 48, num_attention_heads: 3, intermediate_size: 80, num_hidden_layers: 2,
      layer_norm_eps: 1e-12, max_position_embeddings: 24, type_vocab_size: 1, hidden_act: 'gelu' };
    const shapes: Record<string, number[]> = { 'embeddings.word_embeddings.weight': [60, 48], 'embeddings.position_embeddings.weight': [24, 48],
      'embeddings.token_type_embeddings.weight': [1, 48], 'embeddings.LayerNorm.weight': [48], 'embeddings.LayerNorm.bias': [48] };
    for (let l = 0; l < 2; l++) {
      const p = `encoder.layer.${l}.`;
      for (const [n, o, i] of [['attention.self.query', 48, 48], ['attention.self.key', 48, 48], ['attention.self.value', 48, 48], ['attention.output.dense', 48, 48],
        ['intermediate.dense', 80, 48], ['output.dense', 48, 80]] as const) Object.assign(shapes, { [`${p}${n}.weight`]: [o, i], [`${p}${n}.bias`]: [o] });
      for (const n of ['attention.output.LayerNorm', 'output.LayerNorm']) Object.assign(shapes, { [`${p}${n}.weight`]: [48], [`${p}${n}.bias`]: [48] });
    }
    const { dir, weights } = randomFolder(c, shapes, 200);
    const enc = await loadTextEncoder(dir, { backend: 'cpu' });
    const B = 2, L = 24;
    const ids = Array.from({ length: B * L }, (_, i) => (i * 11 + 5) % 60);
    const mask = Array.from({ length: B * L }, (_, i) => (i < L || i % L < 9 ? 1 : 0));
    const r = await enc.forward({ ids: { data: Int32Array.from(ids), shape: [B, L] }, mask: { data: Int32Array.from(mask), shape: [B, L] } });
    const err = relErr(r.data, referenceBert(c as unknown as BertConfig, weights, ids, mask, B, L).out);
    report.push(`  bert random config (3 heads of 16, 1 token type) vs JS float64 ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    enc.dispose();
  });
});

describe('bfloat16 weights (CPU) against the float32 fixtures', () => {
  /** Measured here (docs/engine.md quotes them); the bound only catches a broken path (errors of order 1). */
  const BF16_BOUND = 3e-2;
  for (const [name, cases, list] of [[T5, t5Cases, ['mask_batch', 'long150', 'no_mask', 'e2e_latte']], [BERT, bertCases, ['mask_batch', 'short_nomask', 'e2e_hunyuan']]] as const) {
    it(`${name}: every case, and the same rounding emulated in JS`, async () => {
      const enc = await loadTextEncoder(dirOf(name), { backend: 'cpu', dtype: 'bfloat16' });
      expect(enc.dtype).toBe('bfloat16');
      const f32enc = await loadTextEncoder(dirOf(name), { backend: 'cpu' });
      expect(enc.memory().weightBytes).toBeLessThan(f32enc.memory().weightBytes);
      f32enc.dispose();
      const line: string[] = [];
      for (const c of list) {
        const input = caseInput(cases, c);
        const r = await enc.forward(input);
        const err = relErr(r.data, f32(cases[`${c}.last_hidden_state`]));
        line.push(`${c} ${err.toExponential(2)}`);
        expect(err, c).toBeLessThanOrEqual(BF16_BOUND);
        expect(err, c).toBeGreaterThan(1e-6); // it did run with rounded weights
      }
      // the JS emulation (every GEMM operand and weight rounded to bf16) of the first case
      const c = list[0];
      const { ids, mask } = caseInput(cases, c);
      const args = [weightsOf(name), Array.from(ids.data), mask ? Array.from(mask.data) : null, ids.shape[0], ids.shape[1], { round: roundBf16 }] as const;
      const emu = name === T5 ? referenceT5(configOf(name), ...args) : referenceBert(configOf(name), ...args);
      line.push(`(JS emulation ${c} ${relErr(emu.out, f32(cases[`${c}.last_hidden_state`])).toExponential(2)})`);
      report.push(`  bf16 ${name}: ${line.join(', ')}`);
      enc.dispose();
    });
  }

  it('float16 (CUDA only) emulated in JS: T5 with `wo` kept float32 as transformers does, and without', () => {
    const cfg = configOf(T5) as T5Config;
    const line: string[] = [];
    for (const c of ['mask_batch', 'long150']) {
      const { ids, mask } = caseInput(t5Cases, c);
      const run = (keepWoF32: boolean) => referenceT5(cfg, weightsOf(T5), Array.from(ids.data), mask ? Array.from(mask.data) : null, ids.shape[0], ids.shape[1], { round: roundF16, keepWoF32 });
      const kept = relErr(run(true).out, f32(t5Cases[`${c}.last_hidden_state`]));
      const rounded = relErr(run(false).out, f32(t5Cases[`${c}.last_hidden_state`]));
      line.push(`${c} wo float32 ${kept.toExponential(2)} / wo float16 ${rounded.toExponential(2)}`);
      expect(kept).toBeLessThan(5e-3);
    }
    report.push(`  fp16 emulation t5: ${line.join(', ')}`);
  });
});

describe('weight files: aliases and ignored tensors', () => {
  const t5w = weightsOf(T5), bertw = weightsOf(BERT);
  const { ids, mask } = caseInput(t5Cases, 'mask_batch');
  const expected = f32(t5Cases['mask_batch.last_hidden_state']);

  it('T5: the tied embedding as encoder.embed_tokens.weight, as both names (a torch state dict), with a decoder and lm_head', async () => {
    const { 'shared.weight': shared, ...rest } = t5w;
    const sharedT = { data: shared, shape: [1152, 64] };
    const variants: Record<string, Record<string, Float32Array | { data: Float32Array; shape: number[] }>> = {
      'encoder.embed_tokens.weight only': { ...rest, 'encoder.embed_tokens.weight': sharedT },
      'both names': { ...t5w, 'encoder.embed_tokens.weight': sharedT },
      'T5ForConditionalGeneration (decoder.*, lm_head.weight)': {
        ...t5w, 'decoder.block.0.layer.0.SelfAttention.q.weight': { data: new Float32Array(64 * 64), shape: [64, 64] },
        'decoder.final_layer_norm.weight': { data: new Float32Array(64), shape: [64] }, 'lm_head.weight': sharedT,
      },
    };
    for (const [label, tensors] of Object.entries(variants)) {
      const enc = await loadTextEncoder(folder(T5, tensors), { backend: 'cpu' });
      const r = await enc.forward({ ids, mask });
      expect(relErr(r.data, expected), label).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
      enc.dispose();
    }
  });

  it('BERT: a bert. prefix with cls.* heads, and the embeddings.position_ids buffer (int64)', async () => {
    const input = caseInput(bertCases, 'mask_batch');
    const want = f32(bertCases['mask_batch.last_hidden_state']);
    const prefixed: Record<string, Float32Array | { data: Float32Array | BigInt64Array; shape: number[] }> = {};
    const shapes = readSafetensors(fixturePath(BERT, 'model.safetensors')).tensors;
    for (const [k, v] of Object.entries(bertw)) prefixed[`bert.${k}`] = { data: v, shape: shapes[k].shape };
    prefixed['cls.predictions.bias'] = { data: new Float32Array(727), shape: [727] };
    const positionIds = { data: BigInt64Array.from({ length: 80 }, (_, i) => BigInt(i)), shape: [1, 80] };
    for (const [label, tensors] of Object.entries({ 'bert. prefix + cls.*': prefixed, 'position_ids buffer': { ...bertw, 'embeddings.position_ids': positionIds } })) {
      const enc = await loadTextEncoder(folder(BERT, tensors), { backend: 'cpu' });
      expect(relErr((await enc.forward(input)).data, want), label).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
      enc.dispose();
    }
  });

  it('a missing, a misshaped and an unexpected tensor: one CheckpointError naming all three', async () => {
    const { 'encoder.final_layer_norm.weight': _dropped, ...rest } = t5w;
    const dir = folder(T5, { ...rest, 'encoder.block.1.layer.0.layer_norm.weight': { data: new Float32Array(32), shape: [32] }, 'encoder.extra.weight': { data: new Float32Array(4), shape: [4] } });
    const err = await loadTextEncoder(dir, { backend: 'cpu' }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toMatch(/missing tensors \(1\):\s+encoder\.final_layer_norm\.weight/);
    expect(err.message).toMatch(/encoder\.block\.1\.layer\.0\.layer_norm\.weight: expected \[64\], file has \[32\]/);
    expect(err.message).toMatch(/unexpected tensors \(1\):\s+encoder\.extra\.weight/);
  });

  it('a config that does not match the weights (d_ff 128 for 96): CheckpointError, no crash', async () => {
    const dir = folder(T5, t5w, { ...configOf(T5), d_ff: 128 });
    await expect(loadTextEncoder(dir, { backend: 'cpu' })).rejects.toThrow(/DenseReluDense\.wi_0\.weight: expected \[128, 64\], file has \[96, 64\]/);
  });
});

describe('bad input: typed errors naming what was expected', () => {
  let t5: TextEncoderModel, bert: TextEncoderModel;
  beforeAll(async () => {
    t5 = await loadTextEncoder(dirOf(T5), { backend: 'cpu' });
    bert = await loadTextEncoder(dirOf(BERT), { backend: 'cpu' });
  });
  afterAll(() => {
    t5.dispose();
    bert.dispose();
  });
  const ids = (data: ArrayLike<number>, shape = [1, data.length]) => ({ ids: { data: data as Int32Array, shape } });

  it('ids: empty, non-integer, out of the vocabulary, wrong shapes and types', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [ids([], [1, 0]), /at least one sequence of at least one token for ids\.shape/],
      [ids([], [0, 4]), /ids\.shape/],
      [ids([1, 2, 3], [3]), /Expected \[B, L\].*ids\.shape/],
      [ids([1, 2, 3], [1, 4]), /Expected 4 values.*ids\.data but received 3/],
      [ids(Float32Array.of(5, 1.5)), /Expected a token id: an integer in \[0, 1151\].*ids\.data\[1\] but received 1\.5/],
      [ids([5, Number.NaN]), /ids\.data\[1\]/],
      [ids([1152]), /integer in \[0, 1151\] \(vocab_size 1152\) for ids\.data\[0\] but received 1152/],
      [ids([-1]), /ids\.data\[0\] but received -1/],
      [{ ids: { data: ['1'], shape: [1, 1] } }, /ids\.data\[0\] but received "1"/],
      [{ ids: { data: 'abc', shape: [1, 3] } }, /an Int32Array.*ids\.data/],
      [{ ids: null }, /ids/],
      [null, /Expected \{ ids, mask\? \} for input/],
    ];
    for (const [input, pattern] of cases) {
      const err = await t5.forward(input as never).catch((e) => e);
      expect(err, String(pattern)).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toMatch(pattern);
    }
  });

  it('mask: shape mismatch, values other than 0 / 1', async () => {
    const base = Int32Array.of(3, 4, 1);
    const cases: Array<[unknown, RegExp]> = [
      [{ data: Int32Array.of(1, 1), shape: [1, 2] }, /Expected \[1, 3\] \(the shape of ids\) for mask\.shape but received \[1, 2\]/],
      [{ data: Int32Array.of(1, 1, 1), shape: [3, 1] }, /mask\.shape/],
      [{ data: Int32Array.of(1, 1), shape: [1, 3] }, /Expected 3 values.*mask\.data/],
      [{ data: Int32Array.of(1, 2, 0), shape: [1, 3] }, /Expected 0 \(padding\) or 1 \(token\) for mask\.data\[1\] but received 2/],
      [{ data: Float32Array.of(1, 0.5, 0), shape: [1, 3] }, /mask\.data\[1\] but received 0\.5/],
      [null, /for mask/],
    ];
    for (const [mask, pattern] of cases) {
      const err = await t5.forward({ ids: { data: base, shape: [1, 3] }, mask: mask as never }).catch((e) => e);
      expect(err, String(pattern)).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toMatch(pattern);
    }
  });

  it("BERT: a length above max_position_embeddings; T5 takes any length", async () => {
    const long = new Int32Array(81).fill(5);
    await expect(bert.forward(ids(long))).rejects.toThrow(/Expected at most 80 tokens \(max_position_embeddings of this BERT\) for ids\.shape\[1\] but received 81/);
    expect((await bert.forward(ids(long.subarray(0, 80)))).shape).toEqual([1, 80, 64]);
    expect((await t5.forward(ids(new Int32Array(300).fill(5)))).shape).toEqual([1, 300, 64]);
  });

  it('the raw addon refuses what lib/ checks, as typed errors (never a crash)', async () => {
    const raw = await native().loadTextEncoder(dirOf(T5), {
      family: 't5', vocab_size: 1152, hidden_size: 64, num_layers: 3, num_heads: 4, head_dim: 16, ff_size: 96, eps: 1e-6,
    }, { backend: 'cpu' });
    expect(() => raw.forward(Int32Array.of(1152), [1, 1], null, {})).toThrow(expect.objectContaining({ code: 'SKIPDIT_INVALID_ARGUMENT', message: expect.stringMatching(/token ids in \[0, 1151\]/) }));
    expect(() => raw.forward(Int32Array.of(-5), [1, 1], null, {})).toThrow(/received -5/);
    expect(() => raw.forward(new Int32Array(90), [1, 90], null, {})).not.toThrow(); // T5: no length limit
    expect(() => raw.forward(Int32Array.of(1, 2), [1, 3], null, {})).toThrow(/ids/);
    expect(() => raw.forward(Int32Array.of(1), [1, 1], Float32Array.of(2), {})).toThrow(/0 or 1/);
    expect(() => raw.forward(Int32Array.of(1), [0, 1], null, {})).toThrow(/\[B, L\]/);
    expect(() => raw.forward(Float32Array.of(1) as never, [1, 1], null, {})).toThrow(/Int32Array/);
    expect(() => (raw.forward as (...a: unknown[]) => unknown)()).toThrow(/forward/);
    expect(() => native().loadTextEncoder('x', { family: 'gpt' } as never, { backend: 'cpu' })).toThrow(/'t5' or 'bert'/);
    expect(() => native().loadTextEncoder('x', { family: 't5', vocab_size: 0, hidden_size: 64, num_layers: 3, num_heads: 4, head_dim: 16, ff_size: 96, eps: 1e-6 }, { backend: 'cpu' })).toThrow(/vocab_size/);
    await expect(native().loadTextEncoder('/nonexistent', { family: 't5', vocab_size: 8, hidden_size: 8, num_layers: 1, num_heads: 1, head_dim: 8, ff_size: 8, eps: 1e-6 }, { backend: 'cpu' })).rejects.toMatchObject({ code: 'SKIPDIT_CHECKPOINT' });
    expect((await raw.forward(Int32Array.of(1, 2), [1, 2], null, {})).shape).toEqual([1, 2, 64]);
    raw.dispose();
  });

  it('options: dtype, backend, signal', async () => {
    await expect(loadTextEncoder(dirOf(T5), { backend: 'cpu', dtype: 'float16' })).rejects.toThrow(/Expected 'float32' or 'bfloat16' on the cpu backend for options\.dtype/);
    await expect(loadTextEncoder(dirOf(T5), { dtype: 'float64' as never })).rejects.toThrow(InvalidArgumentError);
    await expect(loadTextEncoder(dirOf(T5), { backend: 'tpu' as never })).rejects.toThrow(/options\.backend/);
    await expect(loadTextEncoder(dirOf(T5), { signal: 'x' as never })).rejects.toThrow(/an AbortSignal for options\.signal/);
    await expect(t5.forward(ids([1]), { signal: {} as never })).rejects.toThrow(/options\.signal/);
  });
});

describe('folders and configs', () => {
  const t5w = weightsOf(T5);

  it('a folder missing its files, a file instead of a folder, a path that does not exist', async () => {
    const noConfig = mkdtempSync(path.join(tmp, 'noconfig-'));
    copyFileSync(fixturePath(T5, 'model.safetensors'), path.join(noConfig, 'model.safetensors'));
    await expect(loadTextEncoder(noConfig)).rejects.toThrow(/holds no config\.json/);
    await expect(loadTextEncoder(folder(T5, null))).rejects.toThrow(/no weights: expected model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin/);
    const badIndex = folder(T5, null);
    writeFileSync(path.join(badIndex, 'model.safetensors.index.json'), '{}');
    await expect(loadTextEncoder(badIndex)).rejects.toThrow(CheckpointError);
    await expect(loadTextEncoder(fixturePath(T5, 'model.safetensors'))).rejects.toThrow(/a model folder.*not a file.*for dir/);
    await expect(loadTextEncoder(path.join(tmp, 'nowhere'))).rejects.toThrow(CheckpointError);
    await expect(loadTextEncoder(42 as never)).rejects.toThrow(/for dir but received 42/);
    const folderAsConfig = folder(T5, t5w);
    rmSync(path.join(folderAsConfig, 'config.json'));
    mkdirSync(path.join(folderAsConfig, 'config.json'));
    await expect(loadTextEncoder(folderAsConfig)).rejects.toThrow(/config\.json.*not a regular file/);
  });

  it('garbage and configs of other models: CheckpointError naming the field and what it expected', async () => {
    const t5c = configOf(T5), bertc = configOf(BERT);
    const cases: Array<[unknown, RegExp]> = [
      ['{ not json', /is not valid JSON/],
      ['[1, 2]', /Expected a JSON object for the config/],
      ['null', /Expected a JSON object/],
      [{ ...t5c, model_type: 'clip_text_model' }, /Expected 't5', 'mt5' \(T5 v1\.1 \/ mT5 encoders\) or 'bert' for model_type .* but received "clip_text_model"/],
      [{ architectures: ['GPT2LMHeadModel'] }, /model_type .* but received undefined/],
      [{ ...t5c, architectures: ['BertModel'] }, /Expected a T5 model .* for architectures/],
      [{ ...bertc, architectures: ['T5EncoderModel'] }, /Expected a BERT model .* for architectures/],
      [{ ...t5c, feed_forward_proj: 'relu' }, /Expected 'gated-gelu' .* for feed_forward_proj .* but received "relu"/],
      [{ ...t5c, d_model: 64.5 }, /Expected an integer in \[1, \d+\] for d_model .* but received 64\.5/],
      [{ ...t5c, num_heads: '4' }, /num_heads .* but received "4"/],
      [{ ...t5c, layer_norm_epsilon: -1 }, /Expected a number in \(0, 1\) for layer_norm_epsilon/],
      [{ ...t5c, relative_attention_num_buckets: 2 }, /relative_attention_num_buckets/],
      [{ ...bertc, hidden_act: 'gelu_new' }, /Expected 'gelu' .* for hidden_act/],
      [{ ...bertc, hidden_size: 66 }, /Expected a multiple of num_attention_heads \(4\) for hidden_size/],
      [{ ...bertc, position_embedding_type: 'relative_key' }, /position_embedding_type/],
    ];
    for (const [config, pattern] of cases) {
      const err = await loadTextEncoder(folder(T5, t5w, config), { backend: 'cpu' }).catch((e) => e);
      expect(err, String(pattern)).toBeInstanceOf(CheckpointError);
      expect(err.message).toMatch(pattern);
    }
    const huge = folder(T5, t5w);
    writeFileSync(path.join(huge, 'config.json'), ' '.repeat((1 << 20) + 1));
    await expect(loadTextEncoder(huge)).rejects.toThrow(/not a model config/);
  });

  it('mT5 (model_type mt5, its defaults) and a T5 v1.1 config without relative_attention_max_distance (older files)', () => {
    const { relative_attention_max_distance: _d, ...old } = configOf(T5);
    expect(parseTextEncoderConfig(old).family).toBe('t5');
    expect((parseTextEncoderConfig(old) as { relative_attention_max_distance: number }).relative_attention_max_distance).toBe(128);
    const mt5 = parseTextEncoderConfig({ model_type: 'mt5', architectures: ['MT5ForConditionalGeneration'] });
    expect(mt5).toMatchObject({ family: 't5', model_type: 'mt5', vocab_size: 250112, feed_forward_proj: 'gated-gelu' });
    expect(parseTextEncoderConfig({ model_type: 'bert' })).toMatchObject({ family: 'bert', hidden_size: 768, max_position_embeddings: 512 });
  });

  it('an mT5 folder (the T5 weights under model_type mt5) loads and gives the same states', async () => {
    const enc = await loadTextEncoder(folder(T5, t5w, { ...configOf(T5), model_type: 'mt5', architectures: ['MT5EncoderModel'] }), { backend: 'cpu' });
    const { ids, mask } = caseInput(t5Cases, 'mask_batch');
    expect(relErr((await enc.forward({ ids, mask })).data, f32(t5Cases['mask_batch.last_hidden_state']))).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    enc.dispose();
  });
});

describe('abort, progress, dispose, concurrency', () => {
  it('load: progress per tensor ending at the total; a pre-aborted signal', async () => {
    const events: Array<{ completed: number; total: number }> = [];
    const enc = await loadTextEncoder(dirOf(T5), { backend: 'cpu', onProgress: (e) => events.push(e) });
    expect(events.length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ phase: 'load', unit: 'tensors', completed: 30, total: 30 });
    enc.dispose();
    await expect(loadTextEncoder(dirOf(T5), { backend: 'cpu', signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
  });

  it('forward: an abort stops it between nodes (AbortError); the encoder works afterwards', async () => {
    const enc = await loadTextEncoder(dirOf(T5), { backend: 'cpu' });
    await expect(enc.forward({ ids: { data: Int32Array.of(1), shape: [1, 1] } }, { signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    const big = { ids: { data: new Int32Array(8 * 1024).fill(7), shape: [8, 1024] } };
    let t0 = performance.now();
    await enc.forward(big);
    const full = performance.now() - t0;
    const controller = new AbortController();
    const started = performance.now();
    const pending = enc.forward(big, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 20);
    const err = await pending.catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toEqual(new Error('stop'));
    const stopped = performance.now() - started;
    report.push(`  abort 20 ms into a (8, 1024) T5 forward: returned after ${stopped.toFixed(0)} ms (the whole forward: ${full.toFixed(0)} ms)`);
    if (full > 200) expect(stopped).toBeLessThan(full * 0.8); // stops after the node in flight (one attention of three)
    t0 = 0;
    const { ids, mask } = caseInput(t5Cases, 'mask_batch');
    expect(relErr((await enc.forward({ ids, mask })).data, f32(t5Cases['mask_batch.last_hidden_state']))).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    enc.dispose();
  });

  it('dispose: later calls throw DisposedError, a forward in flight completes, dispose twice is fine', async () => {
    const enc = await loadTextEncoder(dirOf(BERT), { backend: 'cpu' });
    const input = caseInput(bertCases, 'mask_batch');
    const inFlight = enc.forward(input);
    enc.dispose();
    expect(relErr((await inFlight).data, f32(bertCases['mask_batch.last_hidden_state']))).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    expect(enc.disposed).toBe(true);
    await expect(enc.forward(input)).rejects.toThrow(DisposedError);
    expect(() => enc.memory()).toThrow(DisposedError);
    await expect(enc.encodeText({ encode: () => ({ ids: input.ids, mask: input.mask! }) }, ['a'], { maxLength: 77 })).rejects.toThrow(DisposedError);
    enc.dispose();
  });

  it('concurrent forwards of two encoders on one lane give their own results', async () => {
    const [t5, bert] = await Promise.all([loadTextEncoder(dirOf(T5), { backend: 'cpu' }), loadTextEncoder(dirOf(BERT), { backend: 'cpu' })]);
    const a = caseInput(t5Cases, 'mask_batch'), b = caseInput(bertCases, 'mask_batch');
    const results = await Promise.all([t5.forward(a), bert.forward(b), t5.forward(a), bert.forward(b)]);
    expect(relErr(results[0].data, f32(t5Cases['mask_batch.last_hidden_state']))).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    expect(relErr(results[1].data, f32(bertCases['mask_batch.last_hidden_state']))).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
    expect(Array.from(results[2].data)).toEqual(Array.from(results[0].data));
    expect(Array.from(results[3].data)).toEqual(Array.from(results[1].data));
    t5.dispose();
    bert.dispose();
  });
});

describe('encodeText (strings -> states) with a tokenizer', () => {
  /** A tokenizer for the fixture's e2e strings: returns the ids and mask transformers' tokenizer gave. */
  function fixtureTokenizer(cases: Record<string, ReturnType<typeof loadCases>[string]>, c: string, calls: unknown[]): TextTokenizer {
    const { ids, mask } = caseInput(cases, c);
    return { encode: (texts, options) => (calls.push({ texts, options }), { ids, mask: mask! }) };
  }

  for (const [name, cases, c, maxLength] of [[T5, t5Cases, 'e2e_latte', 120], [BERT, bertCases, 'e2e_hunyuan', 77]] as const) {
    it(`${name} ${c}: the tokenizer called as the pipeline calls it, states within the fixture tolerance`, async () => {
      const enc = await loadTextEncoder(dirOf(name), { backend: 'cpu' });
      const calls: unknown[] = [];
      const texts = Array.from({ length: cases[`${c}.input_ids`].shape[0] }, (_, i) => `prompt ${i}`);
      const r = await enc.encodeText(fixtureTokenizer(cases, c, calls), texts, { maxLength });
      expect(calls).toEqual([{ texts, options: { maxLength, padding: 'max_length', truncation: true } }]);
      expect(r.states.shape).toEqual([texts.length, maxLength, 64]);
      expect(Array.from(r.mask.data)).toEqual(ints(cases[`${c}.attention_mask`]));
      const err = relErr(r.states.data, f32(cases[`${c}.last_hidden_state`]));
      report.push(`  encodeText ${name} ${c} ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
      enc.dispose();
    });
  }

  it('bad arguments: tokenizer, texts, maxLength (BERT: at most its position table)', async () => {
    const enc = await loadTextEncoder(dirOf(BERT), { backend: 'cpu' });
    const tok = fixtureTokenizer(bertCases, 'e2e_hunyuan', []);
    await expect(enc.encodeText({} as never, ['a'], { maxLength: 77 })).rejects.toThrow(/for tokenizer/);
    await expect(enc.encodeText(tok, [], { maxLength: 77 })).rejects.toThrow(/Expected a non-empty array of strings for texts/);
    await expect(enc.encodeText(tok, 'a' as never, { maxLength: 77 })).rejects.toThrow(/for texts/);
    await expect(enc.encodeText(tok, ['a', 3 as never], { maxLength: 77 })).rejects.toThrow(/Expected a string for texts\[1\] but received 3/);
    await expect(enc.encodeText(tok, ['a'], { maxLength: 81 })).rejects.toThrow(/Expected an integer in \[1, 80\] \(max_position_embeddings\) for options\.maxLength but received 81/);
    await expect(enc.encodeText(tok, ['a'], { maxLength: 0 })).rejects.toThrow(/options\.maxLength/);
    await expect(enc.encodeText(tok, ['a'], undefined as never)).rejects.toThrow(/options/);
    enc.dispose();
  });
});

describe('skipdit encode (CLI)', () => {
  const tokenizers = path.join(fixturesDir, 'tokenizers-tiny');

  it('bad arguments: one-line typed errors before anything loads', async () => {
    const run = (...args: string[]) => cli('encode', ...args).then(() => '', (e: { stderr: string; code: number }) => `${e.code} ${e.stderr.trim()}`);
    const out = path.join(tmp, 'states.safetensors');
    expect(await run('--encoder', path.join(tmp, 'missing'), '--tokenizer', 'x', '--out', out, 'a cat')).toMatch(/^1 skipdit: CheckpointError: Cannot open '.*missing': no such folder$/);
    expect(await run('--encoder', fixturePath(T5, 'config.json'), '--tokenizer', 'x', '--out', out, 'a cat')).toMatch(/^1 skipdit: InvalidArgumentError: Expected a model folder .* for --encoder but received/);
    expect(await run('--encoder', dirOf(T5), '--tokenizer', 'x', '--out', path.join(tmp, 'no', 'dir.safetensors'), 'a cat')).toMatch(/^1 skipdit: InvalidArgumentError: .*an existing folder.* for --out/);
    expect(await run('--encoder', dirOf(T5), '--tokenizer', 'x', '--max-length', '0', '--out', out, 'a cat')).toMatch(/^1 skipdit: InvalidArgumentError: Expected a positive integer for --max-length but received 0$/);
    expect(await run('--encoder', dirOf(T5), '--out', out, 'a cat')).toMatch(/required option '--tokenizer/);
  });

  for (const [name, file, cases, c, names, maxLength] of [
    [T5, 'spiece.model', 't5_cases.json', 'e2e_latte', ['caption', 'chinese', 'empty', 'long_caption_truncate'], 120],
    [BERT, 'vocab.txt', 'bert_cases.json', 'e2e_hunyuan', ['cased', 'chinese', 'empty', 'long_caption_truncate', 'hunyuan_negative'], 77],
  ] as const) {
    it(`end to end: the ${c} strings -> states, mask and ids as transformers (${name})`, async () => {
      const all = JSON.parse(readFileSync(path.join(tokenizers, cases), 'utf8')).cases as Array<{ name: string; text: string }>;
      const texts = names.map((n) => all.find((x) => x.name === n)!.text);
      const out = path.join(tmp, `${c}.safetensors`);
      await cli('encode', '--encoder', dirOf(name), '--tokenizer', path.join(tokenizers, file), '--max-length', String(maxLength), '--backend', 'cpu', '--out', out, '--', ...texts);
      const got = readSafetensors(out);
      const expected = name === T5 ? t5Cases : bertCases;
      expect(got.tensors.states.shape).toEqual([texts.length, maxLength, 64]);
      expect(ints(got.tensors.ids)).toEqual(ints(expected[`${c}.input_ids`]));
      expect(ints(got.tensors.mask)).toEqual(ints(expected[`${c}.attention_mask`]));
      const err = relErr(f32(got.tensors.states), f32(expected[`${c}.last_hidden_state`]));
      report.push(`  skipdit encode ${c} ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(FIXTURE_TOL_CPU);
      expect(JSON.parse(got.metadata.prompts)).toEqual(texts);
    });
  }
});
