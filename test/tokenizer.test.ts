// Tokenizers against the slow transformers v4.39.1 T5Tokenizer / BertTokenizer outputs
// (test/fixtures/tokenizers-tiny/README.md): every fixture string, ids and masks identical.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BertTokenizer, CheckpointError, InvalidArgumentError, loadTokenizer, T5Tokenizer, type Tokenizer } from '../lib/index.js';
import { parseSpmModel } from '../lib/tokenizer/spm-model.js';
import { fixturePath } from './helpers/fixtures.js';

interface T5Case {
  name: string;
  text: string;
  tokens: string[];
  num_tokens_untruncated: number;
  truncated: boolean;
  latte_input_ids: number[];
  latte_attention_mask: number[];
  hunyuan_mt5_input_ids: number[];
  hunyuan_mt5_attention_mask: number[];
  legacy_false_input_ids?: number[];
  legacy_false_attention_mask?: number[];
  legacy_false_tokens?: string[];
}
interface BertCase {
  name: string;
  text: string;
  tokens: string[];
  num_tokens_untruncated: number;
  input_ids: number[];
  attention_mask: number[];
  cased_tokens: string[];
  cased_input_ids: number[];
  cased_attention_mask: number[];
}

const spiece = fixturePath('tokenizers-tiny', 'spiece.model');
const vocabTxt = fixturePath('tokenizers-tiny', 'vocab.txt');
const t5Cases = (JSON.parse(readFileSync(fixturePath('tokenizers-tiny', 't5_cases.json'), 'utf8')) as { cases: T5Case[] }).cases;
const bertCases = (JSON.parse(readFileSync(fixturePath('tokenizers-tiny', 'bert_cases.json'), 'utf8')) as { cases: BertCase[] }).cases;

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A folder holding `files` (name -> source path or JSON value). */
function folder(name: string, files: Record<string, string | object>): string {
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, v] of Object.entries(files)) {
    if (typeof v === 'string') copyFileSync(v, path.join(d, f));
    else writeFileSync(path.join(d, f), JSON.stringify(v));
  }
  return d;
}

/** encode() of one text with the reference call (padding max_length, truncation), as plain arrays. */
function call(tok: Tokenizer, text: string, maxLength: number): { ids: number[]; mask: number[] } {
  const e = tok.encode([text], { maxLength, padding: 'max_length', truncation: true });
  expect(e.ids.shape).toEqual([1, maxLength]);
  expect(e.mask.shape).toEqual([1, maxLength]);
  return { ids: Array.from(e.ids.data), mask: Array.from(e.mask.data) };
}

const tokensOf = (tok: Tokenizer, ids: number[]) => ids.map((id) => tok.idToToken(id));

let t5: T5Tokenizer;
let t5Strict: T5Tokenizer;
let bert: BertTokenizer;
let bertCased: BertTokenizer;
beforeAll(async () => {
  t5 = (await loadTokenizer(spiece)) as T5Tokenizer;
  t5Strict = (await loadTokenizer(spiece, { legacy: false })) as T5Tokenizer;
  bert = (await loadTokenizer(vocabTxt)) as BertTokenizer;
  bertCased = (await loadTokenizer(vocabTxt, { lowercase: false })) as BertTokenizer;
});

describe('T5Tokenizer (spiece.model, legacy default)', () => {
  it('reports the fixture tokenizer', () => {
    expect(t5.kind).toBe('t5');
    expect([t5.vocabSize, t5.padId, t5.eosId, t5.unkId, t5.legacy]).toEqual([1100, 0, 1, 2, true]);
    expect(t5.idToToken(1099)).toBe('<extra_id_0>');
    expect(t5.idToToken(1000)).toBe('<extra_id_99>');
    expect(t5.modelMaxLength).toBeUndefined();
  });

  it.each(t5Cases.map((c) => [c.name, c] as const))('%s: ids and mask at max_length 120 and 256, tokens', (_name, c) => {
    expect(call(t5, c.text, 120)).toEqual({ ids: c.latte_input_ids, mask: c.latte_attention_mask });
    expect(call(t5, c.text, 256)).toEqual({ ids: c.hunyuan_mt5_input_ids, mask: c.hunyuan_mt5_attention_mask });
    const row = t5.encodeIds(c.text, { maxLength: 120 });
    expect(tokensOf(t5, row)).toEqual(c.tokens);
    expect(t5.encodeIds(c.text, { truncation: false }).length).toBe(c.num_tokens_untruncated);
  });

  it('encodes the whole fixture as one batch, row for row the same', () => {
    const e = t5.encode(t5Cases.map((c) => c.text), { maxLength: 120, padding: 'max_length', truncation: true });
    expect(e.ids.shape).toEqual([t5Cases.length, 120]);
    t5Cases.forEach((c, b) => {
      expect(Array.from(e.ids.data.subarray(b * 120, (b + 1) * 120))).toEqual(c.latte_input_ids);
      expect(Array.from(e.mask.data.subarray(b * 120, (b + 1) * 120))).toEqual(c.latte_attention_mask);
    });
  });

  it('truncates long prompts to max_length - 1 ids and </s>, never an error', () => {
    const long = t5Cases.filter((c) => c.truncated);
    expect(long.map((c) => c.name)).toEqual(['long_word', 'long_caption_truncate', 'many_tokens_truncate', 'long_chinese']);
    for (const c of long) {
      const { ids, mask } = call(t5, c.text, 120);
      expect(ids[119]).toBe(t5.eosId);
      expect(mask.every((m) => m === 1)).toBe(true);
    }
  });
});

describe('T5Tokenizer legacy=false', () => {
  const differ = t5Cases.filter((c) => c.legacy_false_input_ids);
  it('the fixture has the two strings where legacy=false differs', () => {
    expect(differ.map((c) => c.name)).toEqual(['eos_no_space', 'sentinel']);
  });

  it.each(t5Cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const ids = c.legacy_false_input_ids ?? c.latte_input_ids;
    const mask = c.legacy_false_attention_mask ?? c.latte_attention_mask;
    expect(call(t5Strict, c.text, 120)).toEqual({ ids, mask });
    if (c.legacy_false_tokens) expect(tokensOf(t5Strict, t5Strict.encodeIds(c.text, { maxLength: 120 }))).toEqual(c.legacy_false_tokens);
  });

  it('reads legacy and the sentinels from tokenizer_config.json in a folder', async () => {
    const sentinels = Array.from({ length: 100 }, (_, i) => `<extra_id_${i}>`);
    const d = folder('t5-strict', {
      'spiece.model': spiece,
      'tokenizer_config.json': { tokenizer_class: 'T5Tokenizer', legacy: false, extra_ids: 100, additional_special_tokens: sentinels, model_max_length: 512 },
      'special_tokens_map.json': { eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>', additional_special_tokens: sentinels },
    });
    const tok = (await loadTokenizer(d)) as T5Tokenizer;
    expect([tok.kind, tok.legacy, tok.modelMaxLength, tok.vocabSize]).toEqual(['t5', false, 512, 1100]);
    for (const c of differ) expect(call(tok, c.text, 120).ids).toEqual(c.legacy_false_input_ids);
    // the option wins over the config
    const legacy = await loadTokenizer(d, { legacy: true });
    for (const c of differ) expect(call(legacy, c.text, 120).ids).toEqual(c.latte_input_ids);
  });
});

describe('BertTokenizer (vocab.txt)', () => {
  it('reports the fixture tokenizer', () => {
    expect(bert.kind).toBe('bert');
    expect([bert.vocabSize, bert.padId, bert.unkId, bert.clsId, bert.sepId, bert.maskId, bert.lowercase]).toEqual([727, 0, 100, 101, 102, 103, true]);
    expect(bertCased.lowercase).toBe(false);
  });

  it.each(bertCases.map((c) => [c.name, c] as const))('%s: do_lower_case true and false at max_length 77', (_name, c) => {
    expect(call(bert, c.text, 77)).toEqual({ ids: c.input_ids, mask: c.attention_mask });
    expect(call(bertCased, c.text, 77)).toEqual({ ids: c.cased_input_ids, mask: c.cased_attention_mask });
    expect(tokensOf(bert, bert.encodeIds(c.text, { maxLength: 77 }))).toEqual(c.tokens);
    expect(tokensOf(bertCased, bertCased.encodeIds(c.text, { maxLength: 77 }))).toEqual(c.cased_tokens);
    expect(bert.encodeIds(c.text, { truncation: false }).length).toBe(c.num_tokens_untruncated);
  });

  it('takes do_lower_case and model_max_length from the folder, the option over the config', async () => {
    const d = folder('bert-cased', {
      'vocab.txt': vocabTxt,
      'tokenizer_config.json': { tokenizer_class: 'BertTokenizer', do_lower_case: false, model_max_length: 77 },
      'special_tokens_map.json': { unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]' },
    });
    const cased = await loadTokenizer(d);
    expect([cased.kind, cased.modelMaxLength]).toEqual(['bert', 77]);
    const lower = await loadTokenizer(d, { lowercase: true });
    for (const c of bertCases) {
      // maxLength defaults to model_max_length
      expect(Array.from(cased.encode([c.text], { padding: 'max_length' }).ids.data)).toEqual(c.cased_input_ids);
      expect(call(lower, c.text, 77).ids).toEqual(c.input_ids);
    }
  });
});

describe('tokenizer.json', () => {
  it('a Unigram tokenizer.json (as transformers converts spiece.model) gives the T5 ids', async () => {
    const model = parseSpmModel(readFileSync(spiece), spiece);
    const vocab: [string, number][] = model.pieces.map((p) => [p.piece, p.score]);
    const added = ['<pad>', '</s>', '<unk>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
    for (let i = 99; i >= 0; i--) {
      vocab.push([`<extra_id_${i}>`, 0]);
      added.push({ id: vocab.length - 1, content: `<extra_id_${i}>`, single_word: false, lstrip: true, rstrip: true, normalized: false, special: true });
    }
    const d = folder('t5-json', {
      'tokenizer.json': {
        version: '1.0', added_tokens: added,
        normalizer: { type: 'Sequence', normalizers: [
          { type: 'Precompiled', precompiled_charsmap: Buffer.from(model.precompiledCharsmap).toString('base64') },
          { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
        ] },
        pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
        model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
      },
    });
    const tok = await loadTokenizer(d);
    expect([tok.kind, tok.vocabSize]).toEqual(['t5', 1100]);
    for (const c of t5Cases) expect(call(tok, c.text, 120)).toEqual({ ids: c.latte_input_ids, mask: c.latte_attention_mask });
  });

  it('a WordPiece tokenizer.json (as transformers converts vocab.txt) gives the BERT ids, lower-cased or not', async () => {
    const lines = readFileSync(vocabTxt, 'utf8').split('\n').filter((l, i, a) => i < a.length - 1 || l);
    const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
    const json = (lowercase: boolean) => ({
      version: '1.0',
      added_tokens: specials.map((content) => ({ id: lines.indexOf(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(lines.map((t, i) => [t, i])) },
    });
    const lower = await loadTokenizer(path.join(folder('bert-json', { 'tokenizer.json': json(true) }), 'tokenizer.json'));
    const cased = await loadTokenizer(folder('bert-json-cased', { 'tokenizer.json': json(false) }));
    expect([lower.kind, lower.vocabSize]).toEqual(['bert', 727]);
    for (const c of bertCases) {
      expect(call(lower, c.text, 77)).toEqual({ ids: c.input_ids, mask: c.attention_mask });
      expect(call(cased, c.text, 77)).toEqual({ ids: c.cased_input_ids, mask: c.cased_attention_mask });
    }
  });
});

describe('padding and truncation', () => {
  const texts = ['a cat', 'A beautiful sunset over a mountain range.', ''];

  it("'longest' pads to the longest row with padId and mask 0", () => {
    for (const tok of [t5, bert]) {
      const rows = texts.map((t) => tok.encodeIds(t));
      const L = Math.max(...rows.map((r) => r.length));
      const e = tok.encode(texts, { padding: 'longest' });
      expect(e.ids.shape).toEqual([3, L]);
      rows.forEach((r, b) => {
        const ids = Array.from(e.ids.data.subarray(b * L, (b + 1) * L));
        const mask = Array.from(e.mask.data.subarray(b * L, (b + 1) * L));
        expect(ids).toEqual([...r, ...Array(L - r.length).fill(tok.padId)]);
        expect(mask).toEqual([...Array(r.length).fill(1), ...Array(L - r.length).fill(0)]);
      });
      expect(tok.encode(texts)).toEqual(e); // the default
    }
  });

  it('padding false: one row as is; unequal rows are an InvalidArgumentError suggesting padding', () => {
    const e = t5.encode(['a cat'], { padding: false });
    expect(Array.from(e.ids.data)).toEqual([6, 218, 1]); // fixture case simple
    expect(Array.from(e.mask.data)).toEqual([1, 1, 1]);
    expect(() => t5.encode(texts, { padding: false })).toThrow(InvalidArgumentError);
    expect(() => t5.encode(texts, { padding: false })).toThrow(/padding: 'longest'/);
  });

  it('truncation keeps room for the special tokens; false keeps the whole row', () => {
    const c = t5Cases.find((x) => x.name === 'long_caption_truncate')!;
    const row = t5.encodeIds(c.text, { maxLength: 10 });
    expect(row).toEqual([...c.latte_input_ids.slice(0, 9), 1]);
    const b = bertCases.find((x) => x.name === 'long_caption_truncate')!;
    expect(bert.encodeIds(b.text, { maxLength: 10 })).toEqual([...b.input_ids.slice(0, 9), 102]);
    expect(t5.encode([c.text], { maxLength: 10, truncation: false, padding: 'longest' }).ids.shape).toEqual([1, c.num_tokens_untruncated]);
    expect(() => t5.encode([c.text], { maxLength: 10, truncation: false, padding: 'max_length' })).toThrow(/truncation: true/);
    // an id list already ending with </s> gets no second one, also when truncated onto it
    expect(t5.encodeIds('x </s> </s>')).toEqual([3, 814, 1, 1]); // fixture case double_eos
    expect(t5.encodeIds('x </s> </s>', { maxLength: 3 })).toEqual([3, 814, 1]);
  });
});

describe('decode', () => {
  it('T5: round trips normalised text, skipping special tokens by default', () => {
    for (const text of ['a cat', 'A beautiful sunset over a mountain range.', '一只小猫在公园里跑步', 'In 2024, 3.14 and 1,000,000 people']) {
      expect(t5.decode(t5.encodeIds(text))).toBe(text);
    }
    expect(t5.decode(t5.encodeIds('multiple     inner      spaces'))).toBe('multiple inner spaces');
    const sentinel = t5.encodeIds('<extra_id_0> sentinel   <extra_id_99>end');
    expect(t5.decode(sentinel)).toBe('sentinel end');
    expect(t5.decode(t5.encodeIds('a cat'), { skipSpecialTokens: false })).toBe('a cat</s>');
    expect(t5.decode(new Int32Array([6, 218, 1, 0, 0]))).toBe('a cat');
  });

  it('BERT: lower-cased words, pieces joined, special tokens skipped', () => {
    expect(bert.decode(bert.encodeIds('A Beautiful Sunset'))).toBe('a beautiful sunset');
    expect(bert.decode(bert.encodeIds('walking runners quietly'))).toBe('walking runners quietly');
    expect(bertCased.decode(bertCased.encodeIds('a cat'), { skipSpecialTokens: false })).toBe('[CLS] a cat [SEP]');
  });

  it('refuses ids outside the vocabulary', () => {
    expect(() => t5.decode([5, 1100])).toThrow(InvalidArgumentError);
    expect(() => t5.decode([5, 1100])).toThrow(/ids\[1\]/);
    expect(() => bert.decode([-1])).toThrow(InvalidArgumentError);
    expect(() => bert.decode('abc' as unknown as number[])).toThrow(InvalidArgumentError);
  });
});

describe('bad input', () => {
  it('texts: a non-empty array of strings', () => {
    expect(() => t5.encode([])).toThrow(InvalidArgumentError);
    expect(() => t5.encode('a cat' as unknown as string[])).toThrow(/texts/);
    expect(() => bert.encode(['ok', 3 as unknown as string])).toThrow(/texts\[1\]/);
    expect(() => t5.encodeIds(null as unknown as string)).toThrow(InvalidArgumentError);
  });

  it('options: maxLength a positive integer, padding and truncation of the right type', () => {
    for (const maxLength of [0, -1, 1.5, '120', 2 ** 21, Number.NaN]) {
      expect(() => t5.encode(['a'], { maxLength: maxLength as number, padding: 'max_length' })).toThrow(/options\.maxLength/);
    }
    expect(() => t5.encode(['a'], { maxLength: 1 })).toThrow(/at least 2/); // no room beside </s>
    expect(() => bert.encode(['a'], { maxLength: 2 })).toThrow(/at least 3/);
    expect(t5.encode(['a'], { maxLength: 1, truncation: false }).ids.shape).toEqual([1, 2]);
    expect(() => t5.encode(['a'], { padding: 'max' as 'longest' })).toThrow(/options\.padding/);
    expect(() => t5.encode(['a'], { padding: 'max_length' })).toThrow(/options\.maxLength/); // no model_max_length to fall back on
    expect(() => t5.encode(['a'], { truncation: 'yes' as unknown as boolean })).toThrow(/options\.truncation/);
  });

  it('loadTokenizer: path and options checked', async () => {
    await expect(loadTokenizer('' as string)).rejects.toThrow(InvalidArgumentError);
    await expect(loadTokenizer(path.join(dir, 'missing'))).rejects.toThrow(CheckpointError);
    await expect(loadTokenizer(spiece, { lowercase: true })).rejects.toThrow(/options\.lowercase/);
    await expect(loadTokenizer(vocabTxt, { legacy: false })).rejects.toThrow(/options\.legacy/);
    await expect(loadTokenizer(vocabTxt, { lowercase: 'no' as unknown as boolean })).rejects.toThrow(InvalidArgumentError);
    await expect(loadTokenizer(fixturePath('tokenizers-tiny', 'README.md'))).rejects.toThrow(InvalidArgumentError);
  });

  it('a folder without tokenizer files, or of another tokenizer class', async () => {
    const empty = folder('empty', { 'config.json': { model_type: 't5' } });
    await expect(loadTokenizer(empty)).rejects.toThrow(CheckpointError);
    await expect(loadTokenizer(empty)).rejects.toThrow(/tokenizer\.json/);
    const clip = folder('clip', { 'vocab.txt': vocabTxt, 'tokenizer_config.json': { tokenizer_class: 'CLIPTokenizer' } });
    await expect(loadTokenizer(clip)).rejects.toThrow(/CLIPTokenizer/);
    const bpe = folder('bpe', { 'tokenizer.json': { model: { type: 'BPE', vocab: {}, merges: [] } } });
    await expect(loadTokenizer(bpe)).rejects.toThrow(/"BPE"/);
    const badConfig = folder('bad-config', { 'vocab.txt': vocabTxt });
    writeFileSync(path.join(badConfig, 'tokenizer_config.json'), '{ not json');
    await expect(loadTokenizer(badConfig)).rejects.toThrow(/not valid JSON/);
  });

  it('garbage, truncated or oversized model files are CheckpointErrors', async () => {
    const write = (name: string, data: Uint8Array | string) => {
      const f = path.join(dir, name);
      writeFileSync(f, data);
      return f;
    };
    await expect(loadTokenizer(write('garbage.model', 'this is not a protobuf \u0000\u00ff'))).rejects.toThrow(CheckpointError);
    await expect(loadTokenizer(write('cut.model', readFileSync(spiece).subarray(0, 100_000)))).rejects.toThrow(CheckpointError);
    await expect(loadTokenizer(write('empty.model', ''))).rejects.toThrow(/no pieces/);
    await expect(loadTokenizer(write('latin1.txt', Buffer.from([0x5b, 0x55, 0x4e, 0x4b, 0x5d, 0x0a, 0xe9, 0x0a])))).rejects.toThrow(/not UTF-8/);
    await expect(loadTokenizer(write('nounk.txt', '[PAD]\n[CLS]\n[SEP]\na\n'))).rejects.toThrow(/\[UNK\]/);
    await expect(loadTokenizer(write('empty.txt', ''))).rejects.toThrow(/empty vocabulary/);
    const huge = write('huge.txt', '');
    truncateSync(huge, 64 * 2 ** 20 + 1); // sparse: refused by its size before a byte is read
    await expect(loadTokenizer(huge)).rejects.toThrow(/at most 67108864 bytes/);
    await expect(loadTokenizer(write('tokenizer.json', '[1, 2]'))).rejects.toThrow(/JSON object/);
    // small file, too many entries: refused before building a map of millions
    await expect(loadTokenizer(write('many.txt', '[UNK]\n' + 'a\n'.repeat(4_000_000)))).rejects.toThrow(/at most 4000000/);
  });

  it('a FIFO named like a vocabulary is refused without blocking', async () => {
    const fifo = path.join(dir, 'fifo-vocab.txt');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo here
    await expect(loadTokenizer(fifo)).rejects.toThrow(/FIFO/);
  });
});
