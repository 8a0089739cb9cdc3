// PyTorch checkpoints: the fixture .pt files, training dicts, config inference, conversion, and refusal
// of malicious or malformed files (typed errors, nothing executed, no crash).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, InvalidArgumentError, convertCheckpoint, inspectCheckpoint, loadModel, normalizeConfig, type ModelConfig } from '../lib/index.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';
import { PickleWriter, writeStoredZip, writeTorchCheckpoint } from '../bench/torch-zip.js';
import { randn, relErr } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';
import { randomWeights } from './reference/model.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const shared = (f: string) => fixturePath('dit-skip-tiny', f);
const tiny = { num_heads: 4 }; // the one field the tiny fixture's shapes cannot tell
const cases = loadCases('dit-skip-tiny');
const input = { x: { data: f32(cases['forward.x']), shape: cases['forward.x'].shape }, t: f32(cases['forward.t']), y: ints(cases['forward.y']) };
const report: string[] = [];
afterAll(() => console.log('\ncheckpoint loading:\n' + report.join('\n')));

/** A torch-style .pt of a state dict (float32 storages, one per tensor). */
function torchStateDict(tensors: Record<string, { shape: number[]; data: Float32Array }>, root = 'archive'): Buffer {
  const entries = Object.entries(tensors).map(([name, t], i) => ({ name, dtype: 'F32' as const, key: String(i), storageNumel: t.data.length, shape: t.shape }));
  const pkl = new PickleWriter().stateDict(entries).done();
  const storages = Object.values(tensors).map((t, i) => ({ key: String(i), data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) }));
  return writeTorchCheckpoint(null, root, pkl, storages)!;
}

function expectRefused(bytes: Buffer, message: RegExp): string {
  let err: unknown;
  try {
    testNative().inspectCheckpointBytes(bytes);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a refusal matching ${message}`).toBeInstanceOf(Error);
  expect((err as { code?: string }).code).toBe('SKIPDIT_CHECKPOINT');
  expect((err as Error).message).toMatch(message);
  return (err as Error).message;
}

describe('the fixture checkpoints', () => {
  let fromSafetensors: Float32Array;
  beforeAll(async () => {
    const m = await loadModel(shared('model.safetensors'));
    fromSafetensors = (await m.forward(input)).data;
    m.dispose();
  });

  it('model.pt (zip root "model/", OrderedDict with _metadata) loads and gives the same output bit for bit', async () => {
    const info = await inspectCheckpoint(shared('model.pt'));
    expect(info).toMatchObject({ format: 'torch-zip', picked: 'root', rootFolder: 'model' });
    expect(Object.keys(info.tensors)).toHaveLength(108);
    const m = await loadModel(shared('model.pt'), { config: tiny });
    const out = await m.forward(input);
    expect(out.data).toEqual(fromSafetensors);
    const err = relErr(out.data, f32(cases['forward.out']));
    report.push(`  model.pt forward vs forward.out: ${err.toExponential(2)} (identical to model.safetensors)`);
    expect(err).toBeLessThan(1e-5);
    m.dispose();
  });

  it('ckpt-train.pt picks ema (forward.out_ema); key "model" picks the training weights; args and opt stay inert data', async () => {
    const info = await inspectCheckpoint(shared('ckpt-train.pt'));
    expect(info.picked).toBe('ema');
    expect(info.candidates).toEqual(['model', 'ema']);
    expect(info.extras?.args).toMatchObject({ __class__: 'argparse.Namespace', model: 'DiT-skip', image_size: 64, num_classes: 10 });
    expect((info.extras?.opt as { param_groups: Array<{ betas: number[] }> }).param_groups[0].betas).toEqual([0.9, 0.999]);

    const ema = await loadModel(shared('ckpt-train.pt'), { config: tiny });
    const errEma = relErr((await ema.forward(input)).data, f32(cases['forward.out_ema']));
    report.push(`  ckpt-train.pt [ema] forward vs forward.out_ema: ${errEma.toExponential(2)}`);
    expect(errEma).toBeLessThan(1e-5);
    ema.dispose();
    const model = await loadModel(shared('ckpt-train.pt'), { config: tiny, checkpointKey: 'model' });
    expect((await model.forward(input)).data).toEqual(fromSafetensors);
    model.dispose();
    await expect(loadModel(shared('ckpt-train.pt'), { config: tiny, checkpointKey: 'opt' })).rejects.toThrow(/no state dict under 'opt' \(available: model, ema\)/);
    await expect(loadModel(shared('ckpt-train.pt'), { config: tiny, checkpointKey: '' })).rejects.toThrow(InvalidArgumentError);
  });

  it('convert: .pt -> safetensors with the config in the metadata, then loads with no options', async () => {
    const out = path.join(dir, 'ema.safetensors');
    const r = await convertCheckpoint(shared('ckpt-train.pt'), out, { config: tiny });
    expect(r.picked).toBe('ema');
    const m = await loadModel(out);
    expect(m.config.num_heads).toBe(4);
    expect(relErr((await m.forward(input)).data, f32(cases['forward.out_ema']))).toBeLessThan(1e-5);
    m.dispose();
  });

  it('an ambiguous file gets an error listing what to specify', async () => {
    await expect(loadModel(shared('model.pt'))).rejects.toThrow(/specify \{ config: \{ \.\.\. \} \} with:\n\s+num_heads/);
  });
});

describe('config inference and tensor layouts', () => {
  const cases: Array<{ label: string; config: Partial<ModelConfig> }> = [
    { label: 'DiT-S-sized skip model (heads from the official size)', config: { family: 'dit', skip: true, depth: 2, hidden_size: 384, num_heads: 6, patch_size: 4, input_size: 8, in_channels: 4, num_classes: 5 } },
    { label: 'unconditional Latte-skip without learn_sigma', config: { family: 'latte', skip: true, depth: 4, hidden_size: 384, num_heads: 6, patch_size: 2, input_size: 4, in_channels: 3, num_frames: 3, num_classes: 0, class_dropout: false, learn_sigma: false } },
    { label: 'plain DiT, mlp_ratio 2', config: { family: 'dit', skip: false, depth: 1, hidden_size: 768, num_heads: 12, patch_size: 2, input_size: 4, in_channels: 1, num_classes: 3, mlp_ratio: 2 } },
  ];
  for (const { label, config: partial } of cases) {
    it(`${label}: inferred from the shapes of a .pt state dict`, async () => {
      const config = normalizeConfig(partial);
      const file = path.join(dir, `${label.replace(/\W+/g, '-')}.pt`);
      writeFileSync(file, torchStateDict(randomWeights(config, randn)));
      const info = await inspectCheckpoint(file);
      expect(info.config).toEqual(config);
      const m = await loadModel(file);
      expect(m.config).toEqual(config);
      m.dispose();
    });
  }

  it.skipIf(testAddonSkip)(`strided (transposed) storages, storage offsets, shared storages and fp16/bf16/fp64 storages are read exactly${testAddonNote}`, () => {
    const w = new PickleWriter().global('collections', 'OrderedDict').op(')R').op('(');
    // a: 2x3 view with strides (1, 2) of storage s0 = [0..5] -> transposed reading; b: offset 2 into s0
    w.str('a').tensor({ dtype: 'F32', key: 's0', storageNumel: 6, shape: [2, 3], stride: [1, 2] });
    w.str('b').tensor({ dtype: 'F32', key: 's0', storageNumel: 6, offset: 2, shape: [3], stride: [1] });
    w.str('h').tensor({ dtype: 'F16', key: 's1', storageNumel: 2, shape: [2] });
    w.str('bf').tensor({ dtype: 'BF16', key: 's2', storageNumel: 2, shape: [2] });
    w.str('d').tensor({ dtype: 'F64', key: 's3', storageNumel: 2, shape: [2] });
    const pkl = w.op('u').done();
    const f16 = Buffer.from([0x00, 0x3c, 0x00, 0xc0]); // 1.0, -2.0
    const bf16 = Buffer.from([0x80, 0x3f, 0x40, 0x40]); // 1.0, 3.0
    const f64 = Buffer.alloc(16);
    f64.writeDoubleLE(0.5, 0);
    f64.writeDoubleLE(-4.25, 8);
    const bytes = writeTorchCheckpoint(null, 'archive', pkl, [
      { key: 's0', data: Buffer.from(Float32Array.from([0, 1, 2, 3, 4, 5]).buffer) },
      { key: 's1', data: f16 }, { key: 's2', data: bf16 }, { key: 's3', data: f64 },
    ])!;
    const info = testNative().inspectCheckpointBytes(bytes);
    expect(info.tensors.a).toEqual({ dtype: 'F32', shape: [2, 3] });
    // checksum = sum of every float tensor read: a = [[0,2,4],[1,3,5]] (15), b = [2,3,4] (9), h = -1, bf = 4, d = -3.75
    expect(info.checksum).toBeCloseTo(15 + 9 - 1 + 4 - 3.75, 6);
    // and the ZIP64 form of the same archive reads the same
    const zip64 = writeStoredZip(null, [
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/data/s0', data: Buffer.from(Float32Array.from([0, 1, 2, 3, 4, 5]).buffer) },
      { name: 'archive/data/s1', data: f16 }, { name: 'archive/data/s2', data: bf16 }, { name: 'archive/data/s3', data: f64 },
    ], { zip64: true })!;
    expect(testNative().inspectCheckpointBytes(zip64).checksum).toBe(info.checksum);
  });
});

describe.skipIf(testAddonSkip)(`malicious and malformed files are refused${testAddonNote}`, () => {
  const tensorOk = { name: 'w', dtype: 'F32' as const, key: '0', storageNumel: 4, shape: [4] };
  const withPickle = (pkl: Buffer, storages = [{ key: '0', data: Buffer.alloc(16) }]) => writeTorchCheckpoint(null, 'archive', pkl, storages)!;
  const refusals: string[] = [];
  afterAll(() => console.log('\nrefusals:\n' + refusals.map((r) => '  ' + r.split('\n')[0]).join('\n')));

  const malicious: Array<[string, () => Buffer, RegExp]> = [
    ['os.system via REDUCE', () => new PickleWriter().global('os', 'system').str('touch /tmp/skipdit-pwned').op('\x85R').done(), /refusing to call 'os\.system'/],
    ['posix.system via REDUCE', () => new PickleWriter().global('posix', 'system').str('id').op('\x85R').done(), /refusing to call 'posix\.system'/],
    ['builtins.eval via REDUCE', () => new PickleWriter().global('builtins', 'eval').str('1+1').op('\x85R').done(), /refusing to call 'builtins\.eval'/],
    ['builtins.getattr via REDUCE', () => new PickleWriter().global('builtins', 'getattr').global('os', 'path').str('join').op('\x86R').done(), /refusing to call 'builtins\.getattr'/],
    ['subprocess.Popen via NEWOBJ', () => new PickleWriter().global('subprocess', 'Popen').str('ls').op('\x85').op('\x85').op('\x81').done(), /refusing to instantiate 'subprocess\.Popen'/],
    ['os.system via BUILD', () => new PickleWriter().global('os', 'system').op('}').op('b').done(), /refusing to build 'os\.system'/],
    ['a refused call hidden inside a state dict', () => new PickleWriter().global('collections', 'OrderedDict').op(')R(').str('w').tensor(tensorOk).str('x').global('os', 'system').str('ls').op('\x85R').op('u').done(), /refusing to call 'os\.system'/],
    ['INST opcode', () => new PickleWriter().op('(').op('ios\nsystem\n').done(), /INST/],
    ['STACK_GLOBAL os.system', () => new PickleWriter().raw([0x8c, 2]).raw(Buffer.from('os')).raw([0x8c, 6]).raw(Buffer.from('system')).raw([0x93]).str('ls').op('\x85R').done(), /refusing to call 'os\.system'/],
    ['unknown persistent id kind', () => new PickleWriter().op('(').str('module').str('x').op('\x86Q').done(), /persistent id/],
  ];
  for (const [label, make, message] of malicious) {
    it(`${label}`, async () => {
      const bytes = withPickle(make());
      refusals.push(`${label}: ${expectRefused(bytes, message)}`);
      const file = path.join(dir, `evil-${label.replace(/\W+/g, '-')}.pt`);
      writeFileSync(file, bytes);
      await expect(loadModel(file, { config: tiny })).rejects.toBeInstanceOf(CheckpointError);
      expect(existsSync('/tmp/skipdit-pwned')).toBe(false); // nothing ran
    });
  }

  const malformed: Array<[string, () => Buffer, RegExp]> = [
    ['truncated archive (half the file)', () => readFileSync(shared('model.pt')).subarray(0, 1_300_000), /end-of-central-directory|truncated/],
    ['truncated archive (last byte missing)', () => readFileSync(shared('model.pt')).subarray(0, readFileSync(shared('model.pt')).length - 1), /end-of-central-directory|truncated/],
    ['legacy (pre-1.6) format', () => Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]), /legacy .* re-save it with torch\.save/],
    ['tensor data past the end of its storage', () => withPickle(new PickleWriter().stateDict([{ ...tensorOk, storageNumel: 4, offset: 2, shape: [4] }]).done()), /past the end of its storage/],
    ['storage larger than its data entry', () => withPickle(new PickleWriter().stateDict([{ ...tensorOk, storageNumel: 1000, shape: [1000] }]).done()), /declares 1000 elements but holds 16 bytes/],
    ['absurd declared size (2^60 elements)', () => withPickle(new PickleWriter().stateDict([{ ...tensorOk, storageNumel: 4, shape: [1 << 30, 1 << 30], stride: [0, 0] }]).done()), /absurd|invalid size/],
    ['negative stride', () => withPickle(new PickleWriter().stateDict([{ ...tensorOk, shape: [4], stride: [-1] }]).done()), /invalid size or stride/],
    ['missing storage entry', () => withPickle(new PickleWriter().stateDict([{ ...tensorOk, key: '7' }]).done()), /missing storage data\/7/],
    ['string length past the end', () => withPickle(Buffer.concat([Buffer.from([0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f]), Buffer.from('abc')])), /runs past the end/],
    ['memo index never stored', () => withPickle(Buffer.from([0x80, 0x02, 0x68, 0x07, 0x2e])), /memo index 7 was never stored/],
    ['nesting bomb', () => withPickle(Buffer.concat([Buffer.from([0x80, 0x02, 0x29]), Buffer.alloc(5000, 0x85), Buffer.from('.')])), /nested deeper/],
    ['stack underflow', () => withPickle(Buffer.from([0x80, 0x02, 0x73, 0x2e])), /stack underflow/],
    ['no STOP', () => withPickle(Buffer.from([0x80, 0x02, 0x7d])), /without STOP/],
    ['compressed entry', () => { const b = torchStateDict({ w: { shape: [2], data: new Float32Array(2) } }); const cd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); const lastCd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); b.writeUInt16LE(8, lastCd + 10); void cd; return b; }, /compressed/],
    ['safetensors with a duplicate tensor name', () => {
      const b = readFileSync(shared('model.safetensors'));
      const n = Number(b.readBigUInt64LE(0));
      const text = b.subarray(8, 8 + n).toString();
      const first = text.indexOf('"pos_embed":');
      const entry = text.slice(first, text.indexOf('}', first) + 1);
      const dup = (text.slice(0, -1).trimEnd() + ',' + entry + '}').padEnd(n, ' ');
      if (dup.length !== n) return Buffer.concat([Buffer.from(new BigUint64Array([BigInt(dup.length)]).buffer), Buffer.from(dup), b.subarray(8 + n)]);
      return Buffer.concat([b.subarray(0, 8), Buffer.from(dup), b.subarray(8 + n)]);
    }, /duplicate key "pos_embed"/],
    ['duplicate zip entry', () => writeStoredZip(null, [{ name: 'a/data.pkl', data: new PickleWriter().stateDict([tensorOk]).done() }, { name: 'a/data/0', data: Buffer.alloc(16) }, { name: 'a/data/0', data: Buffer.alloc(16) }])!, /duplicate entry/],
    ['local header offset past the end', () => { const b = torchStateDict({ w: { shape: [2], data: new Float32Array(2) } }); const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); b.writeUInt32LE(0x7fffffff, cd + 42); return b; }, /runs past the end/],
    ['zip without data.pkl', () => writeStoredZip(null, [{ name: 'x/y', data: Buffer.alloc(4) }])!, /without <folder>\/data\.pkl/],
    ['safetensors header length past the end', () => { const b = readFileSync(shared('model.safetensors')); const c = Buffer.from(b.subarray(0, 100)); return c; }, /runs past the end/],
    ['safetensors with overlapping tensors', () => {
      const b = readFileSync(shared('model.safetensors'));
      const n = Number(b.readBigUInt64LE(0));
      const h = JSON.parse(b.subarray(8, 8 + n).toString());
      h['x_embedder.proj.bias'].data_offsets = [0, 256];
      const text = Buffer.from(JSON.stringify(h).padEnd(n, ' '));
      return Buffer.concat([b.subarray(0, 8), text, b.subarray(8 + n)]);
    }, /overlap/],
  ];
  for (const [label, make, message] of malformed) {
    it(`${label}`, () => {
      refusals.push(`${label}: ${expectRefused(make(), message)}`);
    });
  }
});
