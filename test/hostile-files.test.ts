// Hostile and unusual files (issue 14): a convert onto its own input, pickles whose shared containers blow up
// whatever walks them, FIFOs / folders / devices as paths, tensor views that expand a few bytes to gigabytes,
// formats skipdit does not read. Each must give a typed error or a small result quickly: never a crash, a hang,
// unbounded memory or a harmed file. What could crash or hang runs in a child process with a timeout, so a
// regression fails the test instead of taking the suite down.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, InvalidArgumentError, convertCheckpoint, inspectCheckpoint, loadModel, loadVae } from '../lib/index.js';
import { native, packageRoot } from '../lib/native.js';
import { PickleWriter, writeTorchCheckpoint } from '../bench/torch-zip.js';
import { fixturePath } from './helpers/fixtures.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tiny = (f: string) => fixturePath('dit-skip-tiny', f);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const BINPUT = 0x71, BINGET = 0x68;

/**
 * Runs `body` (an ES module body) in a child node, lib/ from source through tsx, with `lib` (lib/index.ts),
 * `native` and `outcome(fn)` ("ErrorClass: message" or "no error") in scope. Its last stdout line must be JSON:
 * returned as `result`, with the exit status and signal. `limits`: bash ulimit options set first.
 */
function child(body: string, options: { timeout?: number; limits?: string } = {}) {
  const root = packageRoot();
  const code = [
    `import * as lib from ${JSON.stringify(path.join(root, 'lib', 'index.ts'))};`,
    `import { native } from ${JSON.stringify(path.join(root, 'lib', 'native.ts'))};`,
    'const outcome = async (f) => { try { await f(); return "no error"; } catch (e) { return `${e.code ?? e.constructor.name}: ${e.message}`; } };',
    body,
  ].join('\n');
  const args = ['--import', 'tsx', '--input-type=module', '-e', code];
  const spawnOptions = { cwd: root, encoding: 'utf8' as const, timeout: options.timeout ?? 30_000 };
  // Under AddressSanitizer (scripts/fuzz-asan.sh's LD_PRELOAD) the shadow memory exceeds any data limit.
  const limits = options.limits?.startsWith('-d') && process.env.LD_PRELOAD?.includes('asan') ? undefined : options.limits;
  const r = limits
    ? spawnSync('bash', ['-c', `ulimit ${limits} && exec "$0" "$@"`, process.execPath, ...args], spawnOptions)
    : spawnSync(process.execPath, args, spawnOptions);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let result: unknown;
  try {
    result = JSON.parse(last);
  } catch {
    result = undefined;
  }
  return { status: r.status, signal: r.signal, result, stderr: r.stderr, timedOut: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' };
}

/** A torch.save archive of `pickle` with one 16-byte storage '0' (tensorOk's). */
function torchFile(name: string, pickle: Buffer): string {
  const file = path.join(dir, name);
  writeTorchCheckpoint(file, 'archive', pickle, [{ key: '0', data: Buffer.alloc(16) }]);
  return file;
}
const tensorOk = { name: 'w', dtype: 'F32' as const, key: '0', storageNumel: 4, shape: [4] };
/** A training dict: {'model': {'w': tensor}, <extra entries written by `extras`>}. */
function trainingDict(extras: (w: PickleWriter) => void): Buffer {
  const w = new PickleWriter().op('}').op('(');
  w.str('model').stateDict([tensorOk]);
  extras(w);
  return w.op('u').done();
}

describe('convert never writes over its own input', () => {
  it('same path, symlink, hard link, .pt input: InvalidArgumentError naming output; the source is unchanged and the process lives', () => {
    const d = path.join(dir, 'self');
    mkdirSync(d);
    const pairs: Array<[string, string]> = [];
    for (const name of ['model.safetensors', 'model.pt']) {
      const input = path.join(d, name);
      copyFileSync(tiny(name), input);
      symlinkSync(input, `${input}.symlink`);
      linkSync(input, `${input}.hardlink`);
      pairs.push([input, input], [input, `${input}.symlink`], [input, `${input}.hardlink`]);
    }
    const before = pairs.map(([input]) => sha256(input));
    const r = child(`
      const out = [];
      for (const [input, output] of ${JSON.stringify(pairs)}) out.push(await outcome(() => lib.convertCheckpoint(input, output, { config: { num_heads: 4 } })));
      // the native writer refuses too (the TypeScript check bypassed)
      out.push(await outcome(() => native().convertCheckpoint(${JSON.stringify(pairs[2][0])}, ${JSON.stringify(pairs[2][1])}, null, {})));
      console.log(JSON.stringify(out));
    `);
    expect(r.signal, r.stderr).toBe(null); // was SIGBUS: the output truncated under the input's mapping
    expect(r.status, r.stderr).toBe(0);
    const outcomes = r.result as string[];
    for (let i = 0; i < pairs.length; i++) {
      expect(outcomes[i]).toMatch(/^SKIPDIT_INVALID_ARGUMENT: Expected a file other than the input for output but received .*, the same file as input/);
    }
    expect(outcomes[pairs.length]).toMatch(/^SKIPDIT_INVALID_ARGUMENT: output '.*hardlink' is the same file as the input/);
    expect(pairs.map(([input]) => sha256(input))).toEqual(before);
    expect(sha256(pairs[0][0])).toBe(sha256(tiny('model.safetensors')));
    expect(readdirSync(d).sort()).toEqual(['model.pt', 'model.pt.hardlink', 'model.pt.symlink', 'model.safetensors', 'model.safetensors.hardlink', 'model.safetensors.symlink']);
  });

  it('a convert that fails while writing leaves no temporary file, and an existing output as it was', () => {
    const d = path.join(dir, 'midway');
    mkdirSync(d);
    const out = path.join(d, 'out.safetensors');
    writeFileSync(out, 'previous contents');
    // A 1 MiB file size limit: writing the 2.6 MB conversion fails half-way with EFBIG (SIGXFSZ ignored).
    const r = child(`
      process.on('SIGXFSZ', () => {});
      console.log(JSON.stringify(await outcome(() => lib.convertCheckpoint(${JSON.stringify(tiny('model.pt'))}, ${JSON.stringify(out)}, { config: { num_heads: 4 } }))));
    `, { limits: '-f 1024' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.result).toMatch(/^SKIPDIT_INTERNAL: writing '.*out\.safetensors' failed: File too large/);
    expect(readFileSync(out, 'utf8')).toBe('previous contents'); // was truncated as the convert began
    expect(readdirSync(d)).toEqual(['out.safetensors']);
  });

  it('a successful convert replaces an existing output, and writes through a symlinked one', async () => {
    const d = path.join(dir, 'replace');
    mkdirSync(d);
    const out = path.join(d, 'out.safetensors');
    writeFileSync(out, 'old');
    await convertCheckpoint(tiny('model.pt'), out, { config: { num_heads: 4 } });
    const target = path.join(d, 'target.safetensors');
    writeFileSync(target, 'old');
    symlinkSync(target, path.join(d, 'link.safetensors'));
    await convertCheckpoint(tiny('model.pt'), path.join(d, 'link.safetensors'), { config: { num_heads: 4 } });
    expect(sha256(target)).toBe(sha256(out));
    expect(lstatSync(path.join(d, 'link.safetensors')).isSymbolicLink()).toBe(true);
    expect(readdirSync(d).sort()).toEqual(['link.safetensors', 'out.safetensors', 'target.safetensors']);
    const m = await loadModel(path.join(d, 'link.safetensors'));
    expect(m.config.num_heads).toBe(4);
    m.dispose();
  });
});

describe('pickles that share containers', () => {
  /** args = a list of 64 references to a list of 64 references to ... (levels deep) an empty list. */
  function sharedNesting(levels: number): Buffer {
    return trainingDict((w) => {
      w.str('args').op(']').raw([BINPUT, 0]).op('0');
      for (let i = 1; i <= levels; i++) {
        w.op('(');
        for (let j = 0; j < 64; j++) w.raw([BINGET, i - 1]);
        w.op('l').raw([BINPUT, i]).op('0');
      }
      w.raw([BINGET, levels]);
    });
  }

  it('64 shared references nested 10 deep (2 KB): inspect is quick, small, and off the JS thread', () => {
    const file = torchFile('nested.pt', sharedNesting(10));
    const r = child(`
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const t0 = performance.now();
      const pending = native().inspectCheckpoint(${JSON.stringify(file)});
      const isPromise = pending instanceof Promise;
      await pending;
      const info = await lib.inspectCheckpoint(${JSON.stringify(file)});
      const once = performance.now() - t0;
      // awaiting work done on the JS thread would never let the timer run between the calls
      for (let i = 0; i < 50; i++) await lib.inspectCheckpoint(${JSON.stringify(file)});
      clearInterval(timer);
      const extras = JSON.stringify(info.extras);
      console.log(JSON.stringify({ isPromise, once, ticks, chars: extras.length, second: info.extras.args[1], picked: info.picked }));
    `, { timeout: 20_000, limits: '-d 3000000' });
    expect(r.timedOut, 'inspect never returned').toBe(false);
    expect(r.status, r.stderr).toBe(0);
    const out = r.result as { isPromise: boolean; once: number; ticks: number; chars: number; second: string; picked: string };
    expect(out.isPromise).toBe(true);
    expect(out.once).toBeLessThan(1000);
    expect(out.ticks).toBeGreaterThan(0);
    expect(out.chars).toBeLessThan(200_000);
    expect(out.second).toBe('<shared: see args[0]>');
    expect(out.picked).toBe('model');
  });

  it('a dict of 50,000 keys referenced by 50,000 top-level keys: linear time, the summary bounded', () => {
    const n = 50_000;
    const file = torchFile('many-keys.pt', trainingDict((w) => {
      w.str('shared').op('}').raw([BINPUT, 0]).op('(');
      for (let i = 0; i < n; i++) w.str(`k${i}`).op('N');
      w.op('u');
      for (let i = 0; i < n; i++) w.str(`ref${i}`).raw([BINGET, 0]);
    }));
    // Quadratic before: key de-duplication scanned each dict per key, and each top-level value was scanned for
    // tensors once per key (minutes at this size).
    const r = child(`
      const t0 = performance.now();
      const info = await lib.inspectCheckpoint(${JSON.stringify(file)});
      const keys = Object.keys(info.extras);
      console.log(JSON.stringify({ ms: performance.now() - t0, keys: keys.length, last: info.extras[keys[keys.length - 1]], ref: info.extras.ref0, picked: info.picked }));
    `, { timeout: 20_000 });
    expect(r.timedOut, 'inspect took over 20 s').toBe(false);
    expect(r.status, r.stderr).toBe(0);
    const out = r.result as { ms: number; keys: number; last: string; ref: string; picked: string };
    expect(out.ms).toBeLessThan(3000);
    expect(out.picked).toBe('model');
    expect(out.ref).toBe('<shared: see shared>');
    expect(out.keys).toBeLessThan(10_100);
    expect(out.last).toMatch(/^\d+ more entries$/);
  });

  it('containers copied over and over (BUILD, set(), long global names) are refused before they take the memory', () => {
    const build = torchFile('build-bomb.pt', trainingDict((w) => {
      w.str('args').global('argparse', 'Namespace').op(')').op('\x81'); // a Namespace, then BUILD it 50,000 times
      w.op('}').raw([BINPUT, 0]).op('(');
      for (let i = 0; i < 20_000; i++) w.str(`a${i}`).op('N');
      w.op('u').op('0');
      for (let i = 0; i < 50_000; i++) w.raw([BINGET, 0]).op('b');
    }));
    const set = torchFile('set-bomb.pt', trainingDict((w) => {
      w.str('args').global('builtins', 'set').raw([BINPUT, 0]).op('(');
      for (let i = 0; i < 20_000; i++) w.op('N');
      w.op('l').op('\x85').raw([BINPUT, 1]).op('R');
      for (let i = 0; i < 50_000; i++) w.raw([BINGET, 0, BINGET, 1]).op('R').op('0'); // set(list) again and again
    }));
    const names = torchFile('name-bomb.pt', trainingDict((w) => {
      w.str('args').str('m'.repeat(1 << 20)).raw([BINPUT, 0]).str('n'.repeat(1 << 20)).raw([BINPUT, 1]).op('\x93');
      for (let i = 0; i < 2_000; i++) w.op('0').raw([BINGET, 0, BINGET, 1]).op('\x93'); // 2 MB names, 2,000 times
    }));
    // Without the bounds these take 16, 8 and 4 GB: the child's data limit (3 GB) turns that into a failure.
    const r = child(`
      const out = [];
      for (const f of ${JSON.stringify([build, set, names])}) {
        const t0 = performance.now();
        out.push([await outcome(() => lib.inspectCheckpoint(f)), performance.now() - t0]);
      }
      console.log(JSON.stringify(out));
    `, { timeout: 30_000, limits: '-d 3000000' });
    expect(r.status, r.stderr).toBe(0);
    const [b, s, g] = r.result as Array<[string, number]>;
    expect(b[0]).toMatch(/^SKIPDIT_CHECKPOINT: pickle in '.*build-bomb\.pt' at byte \d+: its containers hold more than \d+ references in all/);
    expect(s[0]).toMatch(/^SKIPDIT_CHECKPOINT: .*its containers hold more than \d+ references in all/);
    expect(g[0]).toMatch(/^SKIPDIT_CHECKPOINT: .*a global name longer than 1024 bytes/);
    for (const [, ms] of [b, s, g]) expect(ms).toBeLessThan(2000);
  });
});

describe('paths that are not regular files', () => {
  const fifo = path.join(dir, 'weights.fifo');
  const vaeDir = path.join(dir, 'vae-fifos');

  it('a FIFO: every entry point refuses it at once (nothing blocks in open()), the process exits normally', () => {
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    mkdirSync(vaeDir);
    expect(spawnSync('mkfifo', [path.join(vaeDir, 'config.json')]).status).toBe(0);
    const weightsFifoDir = path.join(dir, 'vae-weights-fifo');
    mkdirSync(weightsFifoDir);
    expect(spawnSync('mkfifo', [path.join(weightsFifoDir, 'diffusion_pytorch_model.safetensors')]).status).toBe(0);
    const f = JSON.stringify(fifo), model = JSON.stringify(tiny('model.safetensors'));
    const vaeConfig = '{ latent_channels: 4, out_channels: 3, block_out_channels: [32], layers_per_block: 1, norm_num_groups: 32, mid_block_add_attention: true }';
    const r = child(`
      const out = {
        inspect: await outcome(() => lib.inspectCheckpoint(${f})),
        convertInput: await outcome(() => lib.convertCheckpoint(${f}, ${JSON.stringify(path.join(dir, 'never.safetensors'))})),
        convertOutput: await outcome(() => lib.convertCheckpoint(${model}, ${f})),
        loadModel: await outcome(() => lib.loadModel(${f})),
        loadVae: await outcome(() => lib.loadVae(${f})),
        vaeConfigFifo: await outcome(() => lib.loadVae(${JSON.stringify(vaeDir)})),
        vaeWeightsFifo: await outcome(() => lib.loadVae(${JSON.stringify(weightsFifoDir)})),
        // the native entry points without the TypeScript checks: open(O_NONBLOCK), then fstat
        nativeInspect: await outcome(() => native().inspectCheckpoint(${f})),
        nativeLoadModel: await outcome(() => native().loadModel(${f}, { family: 'dit' }, { backend: 'cpu' })),
        nativeLoadVae: await outcome(() => native().loadVae(${f}, ${vaeConfig}, 'cpu')),
        nativeConvertOutput: await outcome(() => native().convertCheckpoint(${model}, ${f}, null, {})),
      };
      console.log(JSON.stringify(out));
    `, { timeout: 20_000 });
    expect(r.timedOut, 'a FIFO blocked').toBe(false);
    expect(r.status, r.stderr).toBe(0);
    const out = r.result as Record<string, string>;
    const isFifo = /is a FIFO \(named pipe\), not a regular file/;
    for (const key of ['inspect', 'convertInput', 'loadModel', 'loadVae', 'vaeConfigFifo', 'vaeWeightsFifo', 'nativeInspect', 'nativeLoadModel', 'nativeLoadVae']) {
      expect(out[key], key).toMatch(/^SKIPDIT_CHECKPOINT: /);
      expect(out[key], key).toMatch(isFifo);
    }
    expect(out.vaeConfigFifo).toMatch(/config\.json' is a FIFO/);
    expect(out.convertOutput).toMatch(/^SKIPDIT_INVALID_ARGUMENT: Expected a regular file path for output but received .*, which is a FIFO \(named pipe\)/);
    expect(out.nativeConvertOutput).toMatch(/^SKIPDIT_INVALID_ARGUMENT: output '.*' is a FIFO \(named pipe\), not a regular file/);
  });

  it('the CLI on a FIFO: a typed message and exit status 1', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(packageRoot(), 'lib', 'cli.ts'), 'inspect', fifo], { cwd: packageRoot(), encoding: 'utf8', timeout: 20_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/skipdit: CheckpointError: '.*weights\.fifo' is a FIFO \(named pipe\), not a regular file/);
  });

  it('a folder and /dev/zero are named as such; a missing file is still "no such file"', async () => {
    const folder = path.join(dir, 'a-folder');
    mkdirSync(folder);
    for (const [p, what] of [[folder, 'a directory'], ['/dev/zero', 'a character device']]) {
      const message = `'${p}' is ${what}, not a regular file`;
      await expect(inspectCheckpoint(p)).rejects.toThrow(new CheckpointError(message));
      await expect(loadModel(p)).rejects.toThrow(new CheckpointError(message)); // was "no such file"
      await expect(convertCheckpoint(p, path.join(dir, 'never.safetensors'))).rejects.toThrow(new CheckpointError(message));
      await expect(convertCheckpoint(tiny('model.pt'), p, { config: { num_heads: 4 } })).rejects.toThrow(InvalidArgumentError);
    }
    await expect(loadVae('/dev/zero')).rejects.toThrow(/'\/dev\/zero' is a character device, not a regular file/);
    await expect(convertCheckpoint(tiny('model.pt'), folder, { config: { num_heads: 4 } })).rejects.toThrow(/for output but received .*, which is a directory/);
    await expect(inspectCheckpoint(path.join(dir, 'missing.pt'))).rejects.toThrow(/Cannot open '.*missing\.pt': no such file/);
    await expect(loadModel(path.join(dir, 'missing.pt'))).rejects.toThrow(/Cannot open '.*missing\.pt': no such file/);
  });
});

describe('views that expand their storage', () => {
  it.skipIf(testAddonSkip)(`one element viewed as 1024 x 1024 x 64 (stride 0) is refused at open: inspect, convert, load${testAddonNote}`, async () => {
    const pickle = new PickleWriter().stateDict([tensorOk, { name: 'big', dtype: 'F32', key: '0', storageNumel: 4, shape: [1024, 1024, 64], stride: [0, 0, 0] }]).done();
    const file = torchFile('stride0.pt', pickle);
    const refused = /tensor 'big' views 67108864 elements of a storage that holds 4 \(overlapping or zero strides\)/;
    expect(() => testNative().inspectCheckpointBytes(readFileSync(file))).toThrow(refused); // reads every tensor: was 256 MB
    const err = await inspectCheckpoint(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(refused);
    await expect(native().convertCheckpoint(file, path.join(dir, 'stride0.safetensors'), null, {})).rejects.toThrow(refused);
    await expect(loadModel(file, { config: 'DiT-XL/2' })).rejects.toThrow(refused);
    // overlapping strides too: 4 elements read as 2 x 3 with strides (1, 1)
    const overlap = new PickleWriter().stateDict([{ ...tensorOk, name: 'o', shape: [2, 3], stride: [1, 1] }]).done();
    expect(() => testNative().inspectCheckpointBytes(writeTorchCheckpoint(null, 'archive', overlap, [{ key: '0', data: Buffer.alloc(16) }])!)).toThrow(/tensor 'o' views 6 elements of a storage that holds 4/);
  });

  it.skipIf(testAddonSkip)(`one storage viewed whole by 200 tensors (200x the file) is refused; a few shared views still load${testAddonNote}`, () => {
    const storage = Buffer.alloc(64 << 10);
    const view = (name: string) => ({ name, dtype: 'F32' as const, key: '0', storageNumel: storage.length / 4, shape: [storage.length / 4] });
    const many = new PickleWriter().stateDict(Array.from({ length: 200 }, (_, i) => view(`t${i}`))).done();
    expect(() => testNative().inspectCheckpointBytes(writeTorchCheckpoint(null, 'archive', many, [{ key: '0', data: storage }])!)).toThrow(/its tensors view \d+\+ bytes, more than 4 times the file's \d+ bytes/);
    const tied = new PickleWriter().stateDict([view('a'), view('b')]).done(); // tied weights
    expect(Object.keys(testNative().inspectCheckpointBytes(writeTorchCheckpoint(null, 'archive', tied, [{ key: '0', data: storage }])!).tensors)).toEqual(['a', 'b']);
  });
});

describe('formats skipdit does not read', () => {
  const magic = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  const frame = (n: number) => { const b = Buffer.alloc(9); b[0] = 0x95; b.writeBigUInt64LE(BigInt(n), 1); return b; };
  const tar = Buffer.alloc(1024);
  tar.write('storages', 0);
  tar.write('ustar\u000000', 257);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['legacy torch.save, pickle protocol 2', Buffer.from([0x80, 0x02, ...magic, 0x2e, 0x80, 0x02, 0x7d, 0x2e]), /is a legacy \(non-zip\) torch\.save pickle, which skipdit does not read; re-save it with torch\.save\(obj, path\) \(PyTorch >= 1\.6 default zip format\)/],
    ['legacy torch.save, pickle protocol 4 (framed)', Buffer.concat([Buffer.from([0x80, 0x04]), frame(13), Buffer.from([...magic, 0x2e]), Buffer.from([0x80, 0x04, 0x7d, 0x2e])]), /is a legacy \(non-zip\) torch\.save pickle/],
    ['a plain pickle', Buffer.concat([Buffer.from([0x80, 0x04]), frame(3), Buffer.from([0x7d, 0x94, 0x2e])]), /is a plain Python pickle \(protocol 4\), not a torch\.save checkpoint/],
    ['a tar archive (the oldest torch.save format)', tar, /is a tar archive \(the torch\.save format of the earliest PyTorch releases\).*re-save it with torch\.save\(obj, path\)/],
    ['a text file', Buffer.from('hello, this is not a checkpoint at all\n'), /is not a safetensors file \(no JSON header after the 8-byte length\) nor a torch\.save zip archive; it starts with 68 65 6c 6c 6f 2c 20 74 68 69 73 20 69 73 20 6e \("hello, this is n"\)/],
    ['an empty file', Buffer.alloc(0), /is too short \(0 bytes\) to be a safetensors file or a torch\.save checkpoint/],
  ];
  for (const [label, bytes, message] of cases) {
    it(`${label}: says what the file is (was "safetensors file ...: header length exceeds 100 MiB")`, async () => {
      const file = path.join(dir, `format-${label.replace(/\W+/g, '-')}.pt`);
      writeFileSync(file, bytes);
      const err = await inspectCheckpoint(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toMatch(new RegExp(`^'${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' `));
      expect((err as Error).message).toMatch(message);
      await expect(loadModel(file)).rejects.toThrow(message);
    });
  }
});

describe('safetensors headers that expand in memory', () => {
  it('a 40 MB header of 20M tiny values is refused at 2^20 values, quickly and within 1 GB (the whole parse needs gigabytes)', () => {
    const file = path.join(dir, 'wide-header.safetensors');
    const json = Buffer.from(`{"__metadata__":{},"w":{"dtype":"F32","shape":[${'0,'.repeat(20_000_000)}0],"data_offsets":[0,0]}}`);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([len, json]));
    const r = child(`
      const started = performance.now();
      const message = await outcome(() => lib.inspectCheckpoint(${JSON.stringify(file)}));
      console.log(JSON.stringify({ message, ms: performance.now() - started }));
    `, { limits: '-d 1000000' });
    expect(r.status, r.stderr).toBe(0);
    const { message, ms } = r.result as { message: string; ms: number };
    expect(message).toMatch(/^SKIPDIT_CHECKPOINT: .*invalid JSON at byte \d+: more than 1048576 values/);
    expect(ms).toBeLessThan(5000);
  });
});
