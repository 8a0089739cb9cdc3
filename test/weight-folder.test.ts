// Hugging Face model folders (issue 16, loading): the weights of test/fixtures/t5-encoder-tiny laid out every way
// save_pretrained writes them (model.safetensors, safetensors shards + index, pytorch_model.bin with the tied
// shared / encoder.embed_tokens pair, .bin shards + index, a full encoder-decoder checkpoint) must give the same
// tensors, bit for bit, through the native WeightSource (native/checkpoint/weight_folder.h); hostile folders
// (index entries outside the folder, links out of it, missing / duplicated / truncated shards, huge sizes, bad
// JSON) are typed Checkpoint errors. Also readConfigJson.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, InvalidArgumentError, MAX_CONFIG_BYTES, inspectWeights, readConfigJson, type WeightFolderOptions } from '../lib/index.js';
import { fixturePath } from './helpers/fixtures.js';
import { encodeRawSafetensors, encodeTorchBin, randomF32, splitTensors, toBf16, writeSharded, type RawTensor } from './helpers/hf-folder.js';
import { readSafetensors } from './helpers/safetensors.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';

const root = mkdtempSync(path.join(tmpdir(), 'skipdit-weight-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const fixture = (f: string) => fixturePath('t5-encoder-tiny', f);
/** The fixture's 30 tensors (shared.weight first, as in a state dict), bytes as stored. */
const weights: RawTensor[] = (() => {
  const { tensors } = readSafetensors(fixture('model.safetensors'));
  const list = Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) }));
  return [...list.filter((t) => t.name === 'shared.weight'), ...list.filter((t) => t.name !== 'shared.weight')];
})();
const byName = new Map(weights.map((t) => [t.name, t]));
const shared = byName.get('shared.weight')!;
const embedTokens: RawTensor = { ...shared, name: 'encoder.embed_tokens.weight' };
/** What a T5 encoder loader passes. */
const T5: WeightFolderOptions = { aliases: [['shared.weight', 'encoder.embed_tokens.weight']], ignorePrefixes: ['decoder.', 'lm_head.'] };
const params = weights.map((t) => ({ name: t.name, shape: t.shape }));
const weightBytes = weights.reduce((a, t) => a + t.data.length, 0);

/** Decoder tensors of a T5ForConditionalGeneration of the fixture's config (random), plus lm_head. */
const decoder: RawTensor[] = (() => {
  const out: RawTensor[] = [];
  let seed = 7;
  const add = (name: string, shape: number[]) => out.push({ name, dtype: 'F32', shape, data: randomF32(shape, seed++) });
  for (let i = 0; i < 3; i++) {
    for (const p of ['q', 'k', 'v', 'o']) add(`decoder.block.${i}.layer.0.SelfAttention.${p}.weight`, [64, 64]);
    add(`decoder.block.${i}.layer.0.layer_norm.weight`, [64]);
    for (const p of ['q', 'k', 'v', 'o']) add(`decoder.block.${i}.layer.1.EncDecAttention.${p}.weight`, [64, 64]);
    add(`decoder.block.${i}.layer.1.layer_norm.weight`, [64]);
    add(`decoder.block.${i}.layer.2.DenseReluDense.wi_0.weight`, [96, 64]);
    add(`decoder.block.${i}.layer.2.DenseReluDense.wi_1.weight`, [96, 64]);
    add(`decoder.block.${i}.layer.2.DenseReluDense.wo.weight`, [64, 96]);
    add(`decoder.block.${i}.layer.2.layer_norm.weight`, [64]);
  }
  add('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [32, 4]);
  add('decoder.final_layer_norm.weight', [64]);
  add('lm_head.weight', [1152, 64]);
  return out;
})();
const decoderBytes = decoder.reduce((a, t) => a + t.data.length, 0);

let counter = 0;
/** A fresh folder with config.json. */
function folder(label: string): string {
  const d = path.join(root, `${counter++}-${label}`);
  mkdirSync(d);
  copyFileSync(fixture('config.json'), path.join(d, 'config.json'));
  return d;
}

/** Every tensor through the WeightSource equals the fixture's, bit for bit, and nothing else is there. */
function expectFixtureTensors(dir: string, options: WeightFolderOptions | null = T5) {
  const got = testNative().readWeightFolder(dir, options);
  expect(got.map((t) => t.name).sort()).toEqual(weights.map((t) => t.name).sort());
  for (const t of got) {
    const want = byName.get(t.name)!;
    expect(t.dtype, t.name).toBe('F32');
    expect(t.shape, t.name).toEqual(want.shape);
    expect(t.data.equals(want.data), `${t.name} bit-identical`).toBe(true);
  }
  // A WeightBinder taking exactly the encoder's parameters finds nothing missing, misshaped or unexpected.
  expect(testNative().bindWeightFolder(dir, options, params)).toEqual({ taken: weights.length, weightBytes });
}

async function checkpointError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, 'a CheckpointError').toBeInstanceOf(CheckpointError);
  return (err as Error).message;
}

const layouts: Record<string, string> = {};
beforeAll(() => {
  // 1. model.safetensors, as T5EncoderModel.save_pretrained writes it (only shared.weight).
  layouts.single = folder('single');
  copyFileSync(fixture('model.safetensors'), path.join(layouts.single, 'model.safetensors'));
  // 2. three safetensors shards + model.safetensors.index.json.
  layouts.sharded = folder('sharded');
  writeSharded(layouts.sharded, 'safetensors', splitTensors(weights, 3));
  // 3. pytorch_model.bin: torch.save of the state dict, shared.weight and encoder.embed_tokens.weight one storage.
  layouts.bin = folder('bin');
  writeFileSync(path.join(layouts.bin, 'pytorch_model.bin'), encodeTorchBin([shared, embedTokens, ...weights.slice(1)], [['shared.weight', 'encoder.embed_tokens.weight']]));
  // 4. two .bin shards + pytorch_model.bin.index.json, the tied pair split over both (each shard its own copy).
  layouts.binSharded = folder('bin-sharded');
  const [g0, g1] = splitTensors(weights, 2);
  writeSharded(layouts.binSharded, 'bin', [g0, [embedTokens, ...g1]]);
  // 5. a full encoder-decoder checkpoint (T5ForConditionalGeneration, safetensors: decoder.* and lm_head.weight too).
  layouts.full = folder('full');
  writeFileSync(path.join(layouts.full, 'model.safetensors'), encodeRawSafetensors([...weights, ...decoder], { format: 'pt' }));
  // 6. the same sharded: the last shard holds decoder tensors only.
  layouts.fullSharded = folder('full-sharded');
  writeSharded(layouts.fullSharded, 'safetensors', [...splitTensors([...weights, ...decoder.slice(0, 10)], 2), decoder.slice(10)]);
});

describe('the layouts of a Hugging Face model folder give the same tensors', () => {
  it.skipIf(testAddonSkip)(`model.safetensors${testAddonNote}`, async () => {
    expectFixtureTensors(layouts.single);
    expectFixtureTensors(layouts.single, null); // nothing to fold or ignore
    const info = await inspectWeights(layouts.single, T5);
    expect(info.layout).toBe('safetensors');
    expect(info.format).toBe('safetensors');
    expect(info.index).toBe(null);
    expect({ ...info.metadata }).toEqual({ format: 'pt' });
    expect(info.files).toEqual([{ name: 'model.safetensors', path: path.join(info.dir, 'model.safetensors'), present: true, opened: true, symlink: false, bytes: 718344, tensors: 30, used: 30 }]);
    expect(info.tensors.length).toBe(30);
    expect(info.totalBytes).toBe(weightBytes);
    expect(info.parameters).toBe(weightBytes / 4);
    const sh = info.tensors.find((t) => t.name === 'shared.weight')!;
    expect(sh).toEqual({ name: 'shared.weight', dtype: 'F32', shape: [1152, 64], bytes: 1152 * 64 * 4, file: 'model.safetensors' });
    expect(info.ignored).toEqual([]);
  });

  it.skipIf(testAddonSkip)(`three safetensors shards with model.safetensors.index.json${testAddonNote}`, async () => {
    expectFixtureTensors(layouts.sharded);
    const info = await inspectWeights(layouts.sharded, T5);
    expect(info.layout).toBe('safetensors-index');
    expect(info.index).toBe('model.safetensors.index.json');
    expect(info.metadata.total_size).toBe(String(weightBytes));
    expect(info.files.map((f) => [f.name, f.opened, f.tensors])).toEqual([
      ['model-00001-of-00003.safetensors', true, expect.any(Number)],
      ['model-00002-of-00003.safetensors', true, expect.any(Number)],
      ['model-00003-of-00003.safetensors', true, expect.any(Number)],
    ]);
    expect(info.files.reduce((a, f) => a + f.tensors, 0)).toBe(30);
    expect(info.files.every((f) => f.tensors > 0)).toBe(true);
  });

  it.skipIf(testAddonSkip)(`pytorch_model.bin holding both shared.weight and encoder.embed_tokens.weight (one storage)${testAddonNote}`, async () => {
    expectFixtureTensors(layouts.bin);
    const info = await inspectWeights(layouts.bin, T5);
    expect(info.layout).toBe('torch-bin');
    expect(info.format).toBe('torch-zip');
    expect(info.tensors.length).toBe(30);
    expect(info.tensors.find((t) => t.name === 'shared.weight')).toMatchObject({ file: 'pytorch_model.bin', duplicates: ['encoder.embed_tokens.weight'] });
    expect(info.files[0]).toMatchObject({ tensors: 31, used: 30 });
    // Without the alias both names are tensors, and a binder taking the encoder's parameters reports the second.
    const plain = await inspectWeights(layouts.bin);
    expect(plain.tensors.length).toBe(31);
    expect(() => testNative().bindWeightFolder(layouts.bin, null, params)).toThrow(/does not match the model:\n {2}unexpected tensors \(1\):\n {4}encoder\.embed_tokens\.weight$/);
  });

  it.skipIf(testAddonSkip)(`two .bin shards with pytorch_model.bin.index.json, the tied pair in different shards${testAddonNote}`, async () => {
    expectFixtureTensors(layouts.binSharded);
    const info = await inspectWeights(layouts.binSharded, T5);
    expect(info.layout).toBe('torch-bin-index');
    expect(info.index).toBe('pytorch_model.bin.index.json');
    const sh = info.tensors.find((t) => t.name === 'shared.weight')!;
    expect(sh.file).toBe('pytorch_model-00001-of-00002.bin');
    expect(sh.duplicates).toEqual(['encoder.embed_tokens.weight']);
  });

  it.skipIf(testAddonSkip)(`a full encoder-decoder checkpoint: decoder.* and lm_head.weight ignored, not unexpected${testAddonNote}`, async () => {
    expectFixtureTensors(layouts.full);
    const info = await inspectWeights(layouts.full, T5);
    expect(info.ignored).toEqual(decoder.map((t) => t.name).sort());
    expect(info.ignoredBytes).toBe(decoderBytes);
    expect(info.totalBytes).toBe(weightBytes);
    expect(info.files[0]).toMatchObject({ tensors: 30 + decoder.length, used: 30 });
    // Without ignorePrefixes the binder lists every decoder tensor as unexpected.
    expect(() => testNative().bindWeightFolder(layouts.full, { aliases: T5.aliases }, params)).toThrow(new RegExp(`unexpected tensors \\(${decoder.length}\\):\\n {4}decoder\\.`));
  });

  it.skipIf(testAddonSkip)(`sharded encoder-decoder: a shard holding only ignored tensors is never opened, and may be absent${testAddonNote}`, async () => {
    expectFixtureTensors(layouts.fullSharded);
    const info = await inspectWeights(layouts.fullSharded, T5);
    expect(info.files.map((f) => [f.opened, f.present])).toEqual([[true, true], [true, true], [false, true]]);
    expect(info.files[2].tensors).toBe(decoder.length - 10);
    expect(info.ignored.length).toBe(decoder.length);
    expect(info.ignoredBytes).toBe(decoder.slice(0, 10).reduce((a, t) => a + t.data.length, 0)); // of opened files only
    // A user who downloaded only the shards the encoder needs.
    const partial = folder('full-sharded-partial');
    for (const f of ['model.safetensors.index.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors']) copyFileSync(path.join(layouts.fullSharded, f), path.join(partial, f));
    expectFixtureTensors(partial);
    expect((await inspectWeights(partial, T5)).files[2]).toMatchObject({ present: false, opened: false, path: '' });
    // Without the prefixes that shard is needed.
    expect(await checkpointError(inspectWeights(partial))).toMatch(/shard 'model-00003-of-00003\.safetensors' is missing \(model\.safetensors\.index\.json maps 'decoder\..*' and \d+ more tensors to it\)/);
  });

  it.skipIf(testAddonSkip)(`an alias present only under its second name is exposed under the first; mixed dtypes are kept as stored${testAddonNote}`, async () => {
    const d = folder('alias-second');
    // bf16 weights with wo kept in float32, as a float16/bf16 T5 saved by transformers (_keep_in_fp32_modules).
    const mixed = [embedTokens, ...weights.slice(1)].map((t) => (t.name.endsWith('wo.weight') ? t : { ...t, dtype: 'BF16', data: toBf16(t.data) }));
    writeFileSync(path.join(d, 'model.safetensors'), encodeRawSafetensors(mixed));
    const info = await inspectWeights(d, T5);
    expect(info.tensors.find((t) => t.name === 'shared.weight')).toMatchObject({ stored: 'encoder.embed_tokens.weight', dtype: 'BF16', bytes: 1152 * 64 * 2 });
    expect(new Set(info.tensors.map((t) => t.dtype))).toEqual(new Set(['BF16', 'F32']));
    const got = new Map(testNative().readWeightFolder(d, T5).map((t) => [t.name, t]));
    expect([...got.keys()].sort()).toEqual(weights.map((t) => t.name).sort());
    for (const t of mixed) {
      const name = t.name === 'encoder.embed_tokens.weight' ? 'shared.weight' : t.name;
      expect(got.get(name)!.dtype).toBe(t.dtype);
      expect(got.get(name)!.data.equals(t.data), name).toBe(true);
    }
  });

  it.skipIf(testAddonSkip)(`huggingface_hub cache snapshots (every file a link into ../../blobs) and links inside the folder are followed${testAddonNote}`, async () => {
    const repo = path.join(root, 'models--google--t5-tiny');
    const snap = path.join(repo, 'snapshots', '0123abcd');
    mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    mkdirSync(snap, { recursive: true });
    for (const [i, f] of ['config.json', 'model.safetensors.index.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'].entries()) {
      const blob = path.join(repo, 'blobs', `${i}a1b2c3d4e5f6`);
      copyFileSync(path.join(f === 'config.json' ? layouts.single : layouts.sharded, f), blob);
      symlinkSync(path.join('..', '..', 'blobs', path.basename(blob)), path.join(snap, f));
    }
    expectFixtureTensors(snap);
    const info = await inspectWeights(snap, T5);
    const blobs = path.join(path.dirname(path.dirname(info.dir)), 'blobs');
    expect(info.files.every((f) => f.symlink && f.path.startsWith(blobs + path.sep))).toBe(true);
    expect((await readConfigJson(snap)).d_model).toBe(64);
    // A link to a file in the same folder, and the folder itself given through a link.
    const d = folder('inner-link');
    copyFileSync(fixture('model.safetensors'), path.join(d, 'weights.data'));
    symlinkSync('weights.data', path.join(d, 'model.safetensors'));
    expectFixtureTensors(d);
    symlinkSync(d, `${d}-link`);
    expectFixtureTensors(`${d}-link`);
  });
});

describe('readConfigJson', () => {
  it('returns config.json of a folder (or a config file given directly) as an object', async () => {
    const want = JSON.parse(readFileSync(fixture('config.json'), 'utf8'));
    expect(await readConfigJson(layouts.single)).toEqual(want);
    expect(await readConfigJson(fixture('config.json'))).toEqual(want);
  });

  it('refuses garbage with typed errors: not JSON, not an object, not UTF-8, too big, missing, a FIFO, a link out of the folder, bad arguments', async () => {
    const write = (label: string, content: string | Buffer) => {
      const d = folder(label);
      writeFileSync(path.join(d, 'config.json'), content);
      return d;
    };
    expect(await checkpointError(readConfigJson(write('cfg-garbage', '{"d_model": 64,')))).toMatch(/config\.json' is not valid JSON: /);
    expect(await checkpointError(readConfigJson(write('cfg-array', '[1, 2]')))).toMatch(/config\.json' holds an array, not a JSON object/);
    expect(await checkpointError(readConfigJson(write('cfg-null', 'null')))).toMatch(/config\.json' holds null, not a JSON object/);
    expect(await checkpointError(readConfigJson(write('cfg-latin1', Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]))))).toMatch(/is not UTF-8 text/);
    expect(await checkpointError(readConfigJson(write('cfg-big', `{"pad": "${'x'.repeat(MAX_CONFIG_BYTES)}"}`)))).toMatch(/config\.json' is \d+ bytes, more than the 4194304 a config may have/);
    const none = folder('cfg-none');
    unlinkSync(path.join(none, 'config.json'));
    expect(await checkpointError(readConfigJson(none))).toMatch(/config\.json' does not exist: a model folder holds a config\.json next to its weights/);
    expect(await checkpointError(readConfigJson(path.join(root, 'no-such-folder')))).toMatch(/Cannot open model folder .*no such file or folder/);
    const fifo = folder('cfg-fifo');
    unlinkSync(path.join(fifo, 'config.json'));
    execFileSync('mkfifo', [path.join(fifo, 'config.json')]);
    expect(await checkpointError(readConfigJson(fifo))).toMatch(/config\.json' is not a regular file/);
    const out = folder('cfg-link-out');
    unlinkSync(path.join(out, 'config.json'));
    symlinkSync(fixture('config.json'), path.join(out, 'config.json'));
    expect(await checkpointError(readConfigJson(out))).toMatch(/config\.json' is a symbolic link to '.*', outside the folder/);
    expect((await readConfigJson(out, { allowExternalLinks: true })).d_model).toBe(64);
    await expect(readConfigJson(42 as unknown as string)).rejects.toThrow(InvalidArgumentError);
    await expect(readConfigJson(42 as unknown as string)).rejects.toThrow('Expected a folder path string for dir but received 42');
  });
});

describe('hostile and broken folders: typed Checkpoint errors, nothing outside the folder read', () => {
  /** A folder with the three fixture shards and an index whose weight_map is edited by `edit`. */
  function shardedWith(label: string, edit: (map: Record<string, string>, index: Record<string, unknown>) => void): string {
    const d = folder(label);
    for (const f of ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']) copyFileSync(path.join(layouts.sharded, f), path.join(d, f));
    const index = JSON.parse(readFileSync(path.join(layouts.sharded, 'model.safetensors.index.json'), 'utf8'));
    edit(index.weight_map, index);
    writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify(index));
    return d;
  }

  it('weight_map entries naming paths, not files of the folder (traversal, absolute, subfolders, dot names, control characters)', async () => {
    // A valid safetensors file next to the folder, which a traversal would reach.
    writeFileSync(path.join(root, 'outside.safetensors'), readFileSync(fixture('model.safetensors')));
    const cases: Array<[string, RegExp]> = [
      ['../outside.safetensors', /is a path, not a file name of the folder/],
      [path.join(root, 'outside.safetensors'), /is a path, not a file name of the folder/],
      ['sub/model-00001-of-00003.safetensors', /is a path, not a file name of the folder/],
      ['..\\outside.safetensors', /is a path, not a file name of the folder/],
      ['..', /is not a file name/],
      ['.', /is not a file name/],
      ['', /is empty/],
      ['model\n.safetensors', /holds a control character/],
      ['x'.repeat(300), /is longer than 255 bytes/],
    ];
    for (const [name, why] of cases) {
      const d = shardedWith('traversal', (map) => { map['shared.weight'] = name; });
      const message = await checkpointError(inspectWeights(d, T5));
      expect(message).toMatch(/^model folder '.*': model\.safetensors\.index\.json maps 'shared\.weight' to '.*', which /);
      expect(message).toMatch(why);
    }
    // Also in an ignored entry: the index is refused as a whole.
    const d = shardedWith('traversal-ignored', (map) => { map['decoder.x'] = '../outside.safetensors'; });
    expect(await checkpointError(inspectWeights(d, T5))).toMatch(/maps 'decoder\.x' to '\.\.\/outside\.safetensors', which is a path/);
  });

  it('a shard that is a link out of the folder, to /dev/zero, or a FIFO; a dangling link', async () => {
    const out = shardedWith('link-out', () => {});
    unlinkSync(path.join(out, 'model-00002-of-00003.safetensors'));
    symlinkSync(path.join(layouts.sharded, 'model-00002-of-00003.safetensors'), path.join(out, 'model-00002-of-00003.safetensors'));
    expect(await checkpointError(inspectWeights(out, T5))).toMatch(
      /^model folder '.*': 'model-00002-of-00003\.safetensors' is a symbolic link to '.*-sharded\/model-00002-of-00003\.safetensors', outside the folder; links are followed only within the folder \(or into the blobs\/ folder of a huggingface_hub cache snapshot\)/);
    expect((await inspectWeights(out, { ...T5, allowExternalLinks: true })).tensors.length).toBe(30);
    const zero = folder('link-dev-zero');
    symlinkSync('/dev/zero', path.join(zero, 'model.safetensors'));
    expect(await checkpointError(inspectWeights(zero))).toMatch(/'model\.safetensors' is a symbolic link to '\/dev\/zero', outside the folder/);
    expect(await checkpointError(inspectWeights(zero, { allowExternalLinks: true }))).toMatch(/'model\.safetensors' is a character device, not a regular file/);
    const fifo = shardedWith('fifo-shard', () => {});
    unlinkSync(path.join(fifo, 'model-00003-of-00003.safetensors'));
    execFileSync('mkfifo', [path.join(fifo, 'model-00003-of-00003.safetensors')]);
    expect(await checkpointError(inspectWeights(fifo, T5))).toMatch(/'model-00003-of-00003\.safetensors' is a FIFO \(named pipe\), not a regular file/);
    const fifoIndex = folder('fifo-index');
    execFileSync('mkfifo', [path.join(fifoIndex, 'model.safetensors.index.json')]);
    expect(await checkpointError(inspectWeights(fifoIndex))).toMatch(/'model\.safetensors\.index\.json' is a FIFO/);
    const dangling = folder('dangling');
    symlinkSync('gone.safetensors', path.join(dangling, 'model.safetensors'));
    expect(await checkpointError(inspectWeights(dangling))).toMatch(/'model\.safetensors' is a symbolic link to a missing file/);
  });

  it('a missing shard; a tensor in two shards; the index and the shards disagreeing', async () => {
    const missing = shardedWith('missing', () => {});
    unlinkSync(path.join(missing, 'model-00002-of-00003.safetensors'));
    expect(await checkpointError(inspectWeights(missing, T5))).toMatch(/shard 'model-00002-of-00003\.safetensors' is missing \(model\.safetensors\.index\.json maps '.*' and \d+ more tensors to it\)/);

    // Shard 3 also holds shared.weight (the index maps it to shard 1).
    const twice = shardedWith('twice', () => {});
    const s3 = path.join(twice, 'model-00003-of-00003.safetensors');
    const { tensors } = readSafetensors(s3);
    const third = Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) }));
    writeFileSync(s3, encodeRawSafetensors([...third, shared]));
    expect(await checkpointError(inspectWeights(twice, T5))).toMatch(/tensor 'shared\.weight' is in two shards, 'model-00001-of-00003\.safetensors' and 'model-00003-of-00003\.safetensors'/);

    // A tensor of shard 2 (which holds others too) mapped to shard 3, or not listed at all.
    const moved = splitTensors(weights, 3)[1][0].name;
    const movedRe = moved.replace(/\./g, '\\.');
    const wrongFile = shardedWith('wrong-file', (map) => { map[moved] = 'model-00003-of-00003.safetensors'; });
    expect(await checkpointError(inspectWeights(wrongFile, T5))).toMatch(new RegExp(`model\\.safetensors\\.index\\.json maps '${movedRe}' to 'model-00003-of-00003\\.safetensors', but it is in 'model-00002-of-00003\\.safetensors'`));
    const unlisted = shardedWith('unlisted', (map) => { delete map[moved]; });
    expect(await checkpointError(inspectWeights(unlisted, T5))).toMatch(new RegExp(`shard 'model-00002-of-00003\\.safetensors' holds '${movedRe}', which model\\.safetensors\\.index\\.json does not list`));
    // The index decides which files belong to the checkpoint: shard 1 (shared.weight alone) mapped away is not read.
    const away = shardedWith('mapped-away', (map) => { map['shared.weight'] = 'model-00002-of-00003.safetensors'; });
    expect(await checkpointError(inspectWeights(away, T5))).toMatch(/maps 'shared\.weight' to 'model-00002-of-00003\.safetensors', which does not hold it/);
    const phantom = shardedWith('phantom', (map) => { map['encoder.extra.weight'] = 'model-00002-of-00003.safetensors'; });
    expect(await checkpointError(inspectWeights(phantom, T5))).toMatch(/maps 'encoder\.extra\.weight' to 'model-00002-of-00003\.safetensors', which does not hold it/);
    // A safetensors index naming a torch.save archive.
    const mixed = shardedWith('mixed-format', () => {});
    writeFileSync(path.join(mixed, 'model-00003-of-00003.safetensors'), encodeTorchBin(third));
    expect(await checkpointError(inspectWeights(mixed, T5))).toMatch(/'model-00003-of-00003\.safetensors' is a torch\.save archive, but model\*\.safetensors weights must be safetensors files/);
  });

  it.skipIf(testAddonSkip)(`aliases that differ: dtype or shape at open, values when read${testAddonNote}`, async () => {
    const dtype = folder('alias-dtype');
    writeFileSync(path.join(dtype, 'model.safetensors'), encodeRawSafetensors([shared, { ...embedTokens, dtype: 'BF16', data: toBf16(shared.data) }, ...weights.slice(1)]));
    expect(await checkpointError(inspectWeights(dtype, T5))).toMatch(
      /tensors 'shared\.weight' \(F32 \[1152, 64\], in 'model\.safetensors'\) and 'encoder\.embed_tokens\.weight' \(BF16 \[1152, 64\], in 'model\.safetensors'\) are aliases of 'shared\.weight' but differ in dtype or shape/);
    const values = folder('alias-values');
    const changed = Buffer.from(shared.data);
    changed[1000] ^= 1;
    writeFileSync(path.join(values, 'pytorch_model.bin'), encodeTorchBin([shared, { ...embedTokens, data: changed }, ...weights.slice(1)]));
    expect((await inspectWeights(values, T5)).tensors.length).toBe(30); // inspecting reads no data
    expect(() => testNative().readWeightFolder(values, T5)).toThrow(/'shared\.weight' \(pytorch_model\.bin\) and 'encoder\.embed_tokens\.weight' \(pytorch_model\.bin\) are aliases of 'shared\.weight' but hold different values/);
    expect(() => testNative().bindWeightFolder(values, T5, params)).toThrow(/are aliases of 'shared\.weight' but hold different values/);
  });

  it('truncated shards (safetensors and .bin), huge declared sizes, a huge index', async () => {
    const cut = shardedWith('truncated', () => {});
    const s2 = path.join(cut, 'model-00002-of-00003.safetensors');
    truncateSync(s2, readFileSync(s2).length - 100);
    expect(await checkpointError(inspectWeights(cut, T5))).toMatch(/safetensors file '.*model-00002-of-00003\.safetensors': entry '.*' data_offsets \[\d+, \d+\] lie outside the data section/);
    const cutBin = folder('truncated-bin');
    const bin = readFileSync(path.join(layouts.binSharded, 'pytorch_model-00002-of-00002.bin'));
    for (const f of ['pytorch_model-00001-of-00002.bin', 'pytorch_model.bin.index.json']) copyFileSync(path.join(layouts.binSharded, f), path.join(cutBin, f));
    writeFileSync(path.join(cutBin, 'pytorch_model-00002-of-00002.bin'), bin.subarray(0, bin.length - 300));
    expect(await checkpointError(inspectWeights(cutBin, T5))).toMatch(/pytorch_model-00002-of-00002\.bin/);

    // A shard declaring a 2^40 x 2^40 tensor in a small file.
    const huge = shardedWith('huge-shape', () => {});
    const s3 = path.join(huge, 'model-00003-of-00003.safetensors');
    const header = (n: number) => JSON.stringify({ 'encoder.final_layer_norm.weight': { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, n] } });
    const json = header(256);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(s3, Buffer.concat([len, Buffer.from(json), Buffer.alloc(256)]));
    expect(await checkpointError(inspectWeights(huge))).toMatch(/entry 'encoder\.final_layer_norm\.weight' holds 256 bytes but shape \[1099511627776, 1099511627776\] of F32 needs more than the file/);
    // An absurd total_size is only reported (nothing is sized from it).
    const total = shardedWith('huge-total', (_, index) => { index.metadata = { total_size: 1e30, note: 'x' }; });
    const info = await inspectWeights(total, T5);
    expect(info.metadata.note).toBe('x');
    expect(info.totalBytes).toBe(weightBytes);

    const bigIndex = folder('huge-index');
    writeFileSync(path.join(bigIndex, 'model.safetensors.index.json'), `{"weight_map": {}, "pad": "${'x'.repeat(17 << 20)}"}`);
    expect(await checkpointError(inspectWeights(bigIndex))).toMatch(/model\.safetensors\.index\.json is \d+ bytes, more than the 16 MiB an index may have/);
    const manyFiles = shardedWith('many-files', (map) => { for (let i = 0; i < 5000; i++) map[`decoder.t${i}`] = `f${i}.safetensors`; });
    expect(await checkpointError(inspectWeights(manyFiles, T5))).toMatch(/model\.safetensors\.index\.json names more than 4096 files/);
  });

  it('bad index JSON and structure', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"weight_map": {"a": "model-00001-of-00003.safetensors",}}', /model\.safetensors\.index\.json is not valid JSON: invalid JSON at byte \d+/],
      ['[]', /model\.safetensors\.index\.json is not a JSON object/],
      ['{"metadata": {}}', /has no "weight_map" object/],
      ['{"weight_map": ["model.safetensors"]}', /has no "weight_map" object/],
      ['{"weight_map": {}}', /has an empty "weight_map"/],
      ['{"weight_map": {"shared.weight": 3}}', /the weight_map value of 'shared\.weight' is not a file name string/],
      ['{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}', /is not valid JSON: .*duplicate/i],
      ['{"metadata": [], "weight_map": {"a": "x"}}', /"metadata" is not an object/],
      ['', /is not valid JSON/],
    ];
    for (const [text, message] of cases) {
      const d = folder('bad-index');
      writeFileSync(path.join(d, 'model.safetensors.index.json'), text);
      expect(await checkpointError(inspectWeights(d))).toMatch(message);
    }
  });

  it('folders without weights we read, paths that are not folders; options of the wrong type', async () => {
    const tf = folder('tf-only');
    writeFileSync(path.join(tf, 'tf_model.h5'), 'x');
    writeFileSync(path.join(tf, 'flax_model.msgpack'), 'x');
    expect(await checkpointError(inspectWeights(tf))).toMatch(
      /^model folder '.*': no weights: expected model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin or pytorch_model\.bin\.index\.json; the folder has 'flax_model\.msgpack', 'tf_model\.h5' \(skipdit reads safetensors and PyTorch weights/);
    expect(await checkpointError(inspectWeights(folder('empty')))).toMatch(/no weights: .*\(the folder has no weight-like files\)/);
    expect(await checkpointError(inspectWeights(fixture('model.safetensors')))).toMatch(/model\.safetensors' is a regular file, not a model folder/);
    expect(await checkpointError(inspectWeights(path.join(root, 'nope')))).toMatch(/cannot open model folder '.*nope': No such file or directory/);
    const dirAsFile = folder('dir-as-weights');
    mkdirSync(path.join(dirAsFile, 'model.safetensors'));
    expect(await checkpointError(inspectWeights(dirAsFile))).toMatch(/'model\.safetensors' is a directory, not a regular file/);
    const notSt = folder('bin-as-st');
    writeFileSync(path.join(notSt, 'pytorch_model.bin'), readFileSync(fixture('model.safetensors')));
    expect(await checkpointError(inspectWeights(notSt))).toMatch(/'pytorch_model\.bin' is a safetensors file, but pytorch_model\*\.bin weights must be torch\.save archives/);

    const bad: Array<[unknown, unknown, string]> = [
      [42, {}, 'Expected a folder path string for dir but received 42'],
      ['', {}, 'Expected a folder path string for dir but received ""'],
      [layouts.single, 'x', 'Expected an object for options but received "x"'],
      [layouts.single, { aliases: 'shared.weight' }, 'Expected an array of arrays of tensor names for options.aliases'],
      [layouts.single, { aliases: [['a', '']] }, 'Expected an array of non-empty strings for options.aliases[0]'],
      [layouts.single, { aliases: [[]] }, 'Expected a non-empty array of tensor names for options.aliases[0]'],
      [layouts.single, { aliases: [['a', 'b'], ['b']] }, 'Expected names that are in no other alias group for options.aliases[1] but received "b"'],
      [layouts.single, { ignorePrefixes: [''] }, 'Expected an array of non-empty strings for options.ignorePrefixes'],
      [layouts.single, { allowExternalLinks: 1 }, 'Expected a boolean for options.allowExternalLinks but received 1'],
    ];
    for (const [dir, options, message] of bad) {
      const err = await inspectWeights(dir as string, options as WeightFolderOptions).then(() => undefined, (e: unknown) => e);
      expect(err, message).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toContain(message);
    }
  });
});

describe('loadTextEncoder reads every layout', () => {
  it('the T5 encoder from each folder gives the states of the fixture folder, bit for bit', async () => {
    const { loadTextEncoder } = await import('../lib/index.js');
    const ids = { data: Int32Array.from({ length: 2 * 9 }, (_, i) => (i * 37) % 1100), shape: [2, 9] };
    const mask = { data: Int32Array.from({ length: 2 * 9 }, (_, i) => (i % 9 < 7 || i < 9 ? 1 : 0)), shape: [2, 9] };
    const states = async (dir: string) => {
      const enc = await loadTextEncoder(dir, { backend: 'cpu' });
      try {
        return (await enc.forward({ ids, mask })).data;
      } finally {
        enc.dispose();
      }
    };
    const expected = await states(path.dirname(fixture('config.json')));
    for (const [name, dir] of Object.entries(layouts)) {
      copyFileSync(fixture('config.json'), path.join(dir, 'config.json'));
      expect(Buffer.from((await states(dir)).buffer).equals(Buffer.from(expected.buffer)), name).toBe(true);
    }
  });
});
