// Input validation (issue 14): every value a caller or a command line can get wrong is a typed error naming it,
// raised before any long work, and never a NaN result, a silently ignored option or a stack trace.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError, DDIMSampler, DisposedError, InvalidArgumentError, OutputError, Pipeline, imageGrid, loadModel, normalizeConfig,
  resolveCachePolicy, toImages, type Model,
} from '../lib/index.js';
import { packageRoot } from '../lib/native.js';
import { checkOutputPath, writeOutput } from '../lib/output.js';
import { cli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';
import { readSafetensors, writeSafetensors } from './helpers/safetensors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-validation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dit = fixturePath('dit-skip-tiny', 'model.safetensors');
const latte = fixturePath('latte-skip-tiny', 'model.safetensors');
const vaeDir = path.join(path.dirname(fixturePath('vae-tiny', 'model.safetensors')));
const vaeWeights = fixturePath('vae-tiny', 'model.safetensors');

/** The CLI's failure: exit code and stderr (the command must fail). */
async function cliError(...args: string[]): Promise<{ code: number; stderr: string }> {
  const err = await cli(...args).then(
    (r) => { throw new Error(`expected a failure, got: ${r.stdout}`); },
    (e: { code: number; stderr: string }) => e,
  );
  return { code: err.code, stderr: err.stderr };
}

/** One typed line, no stack trace. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr.trim()).toMatch(pattern);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('Pipeline.dispose() then init() (item 6)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(dit, { backend: 'cpu' });
  });
  afterAll(() => model?.dispose());

  it('a new run after dispose() uses the cache policy the pipeline was built with, as a fresh pipeline would', async () => {
    const options = { steps: 6, cfgScale: 4, cache: 'dit:2' as const };
    const fresh = new Pipeline(model, options).init({ labels: [1, 2], seed: 3 });
    const expected = await fresh.run();
    fresh.dispose();

    const pipe = new Pipeline(model, options).init({ labels: [5], seed: 9 });
    await pipe.step();
    pipe.dispose();
    expect(pipe.cachePolicy).toMatchObject({ interval: 2, branch: 4 });
    pipe.init({ labels: [1, 2], seed: 3 });
    const samples = await pipe.run();
    expect(pipe.cacheStats.cachedSteps).toBe(3);
    expect(samples.data).toEqual(expected.data);
    pipe.dispose();
  });

  it('the policy set last survives dispose(); false stays off', async () => {
    const pipe = new Pipeline(model, { steps: 4 }).init({ labels: [1] });
    pipe.setCachePolicy('dit:3');
    pipe.dispose();
    pipe.init({ labels: [1] });
    await pipe.run();
    expect(pipe.cachePolicy).toMatchObject({ interval: 3 });
    expect(pipe.history.map((s) => s.cached)).toEqual([false, true, true, false]);
    pipe.setCachePolicy(false);
    pipe.dispose();
    pipe.init({ labels: [1] });
    await pipe.run();
    expect(pipe.cachePolicy).toBeUndefined();
    expect(pipe.cacheStats.cachedSteps).toBe(0);
  });

  it('new Pipeline() needs a live Model', async () => {
    expect(() => new Pipeline({} as Model, {})).toThrow(InvalidArgumentError);
    expect(() => new Pipeline({} as Model, {})).toThrow(/Expected a Model from loadModel\(\) for model but received an object/);
    expect(() => new Pipeline(undefined as unknown as Model)).toThrow(/for model but received undefined/);
    const gone = await loadModel(dit, { backend: 'cpu' });
    gone.dispose();
    expect(() => new Pipeline(gone)).toThrow(DisposedError);
  });
});

describe('float parameters must be finite as float32 (item 7)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(dit, { backend: 'cpu' });
  });
  afterAll(() => model?.dispose());
  const x = { data: new Float32Array(2 * 4 * 8 * 8).fill(0.1), shape: [2, 4, 8, 8] };

  it('Pipeline cfgScale', () => {
    for (const s of [1e39, 1e300, -1e39, 3.5e38]) {
      expect(() => new Pipeline(model, { cfgScale: s })).toThrow(InvalidArgumentError);
      expect(() => new Pipeline(model, { cfgScale: s })).toThrow(/Expected a finite float32 number .* for cfgScale but received/);
    }
    expect(new Pipeline(model, { cfgScale: 3.4028234663852886e38 }).cfgScale).toBe(3.4028234663852886e38); // the largest float32
  });

  it('model.forwardWithCfg and model.sampleStep cfgScale; a refused step leaves the latents as they were', async () => {
    await expect(model.forwardWithCfg({ x, t: 500, y: [1, 10], cfgScale: 1e39 })).rejects.toThrow(/for cfgScale but received 1e\+39/);
    const latents = await model.createLatents(x);
    const sampler = new DDIMSampler(2);
    await expect(model.sampleStep(latents, { t: 999, y: [1, 10], cfgScale: -1e300 }, sampler.coefficients(0))).rejects.toThrow(InvalidArgumentError);
    expect(latents.read().data).toEqual(x.data);
    latents.dispose();
  });

  it('DDIM eta: finite as float32, and small enough that every step has a real sqrt (eta <= 1 always does)', () => {
    expect(() => new DDIMSampler(10, { eta: 1e39 })).toThrow(/for eta but received 1e\+39/);
    expect(() => new Pipeline(model, { eta: 1e300 })).toThrow(InvalidArgumentError);
    expect(() => new DDIMSampler(50, { eta: 1.5 })).toThrow(/sigma\^2 <= 1 - alpha_prev at every step .* for eta but received 1.5/);
    expect(new DDIMSampler(50, { eta: 1 }).coefficients(0).dirCoef).not.toBeNaN();
  });

  it('timesteps: the error shows the value given, not its float32 rounding', async () => {
    await expect(model.forward({ x, t: 1e39, y: [1, 2] })).rejects.toThrow(/for t\[0\] but received 1e\+39/);
  });

  it('the CLI refuses --cfg and --eta beyond float32 before sampling, and writes nothing', async () => {
    const out = path.join(dir, 'cfg.png');
    const a = await cliError('generate', '--class', '1', '--cfg', '1e39', '--steps', '2', '--out', out);
    expect(a.code).toBe(1);
    expectOneLine(a.stderr, /^skipdit: InvalidArgumentError: Expected a finite float32 number .* for --cfg but received 1e\+39$/);
    expect(existsSync(out)).toBe(false);
    const b = await cliError('sample', '--model', dit, '--class', '1', '--eta', '-1e39', '--steps', '2', '--out', path.join(dir, 'eta.safetensors'));
    expectOneLine(b.stderr, /InvalidArgumentError: .* for --eta but received -1e\+39/);
  });
});

describe('misleading or silent behaviour (item 10)', () => {
  it('VAE weights or another file given as a model say what they are, with or without --config', async () => {
    await expect(loadModel(vaeWeights, { backend: 'cpu' })).rejects.toThrow(CheckpointError);
    await expect(loadModel(vaeWeights, { backend: 'cpu', config: { num_heads: 4 } })).rejects.toThrow(/looks like VAE weights .* not a DiT or Latte checkpoint: load it with loadVae\(\)/);
    const other = path.join(dir, 'other.safetensors');
    writeSafetensors(other, { 'net.weight': { shape: [2], data: new Float32Array(2) } });
    await expect(loadModel(other, { backend: 'cpu', config: { num_heads: 4 } })).rejects.toThrow(/is not a DiT or Latte checkpoint: it has no x_embedder\.proj\.weight \(1 tensors, such as 'net\.weight'\)/);
    const a = await cliError('sample', '--model', vaeWeights, '--config', '{"num_heads": 4}', '--class', '1');
    expectOneLine(a.stderr, /CheckpointError: .* looks like VAE weights/);
    expect(a.stderr).not.toMatch(/family/);
    const b = await cliError('generate', '--model', vaeWeights, '--class', '1');
    expectOneLine(b.stderr, /CheckpointError: .* looks like VAE weights .* --vae/);
    expect(b.stderr).not.toMatch(/num_classes/);
  });

  it('cache and config preset names are looked up as own properties only', async () => {
    for (const name of ['constructor', '__proto__', 'toString:2:1', 'hasOwnProperty', 'valueOf:3']) {
      expect(() => resolveCachePolicy(name as 'dit')).toThrow(/Expected a preset \(dit, latte, latte-t2v, hunyuan\)/);
    }
    expect(() => resolveCachePolicy({ interval: 1e300, branch: 1 })).toThrow(/for cache\.interval but received 1e\+300/);
    expect(() => resolveCachePolicy('dit:1e300' as 'dit')).toThrow(/cache interval/);
    await expect(loadModel(dit, { backend: 'cpu', config: 'constructor' as 'DiT-XL/2' })).rejects.toThrow(/Expected a preset name/);
    const err = await cliError('sample', '--model', dit, '--class', '1', '--steps', '2', '--cache', '__proto__', '--out', path.join(dir, 'c.safetensors'));
    expectOneLine(err.stderr, /InvalidArgumentError: Expected a preset .* but received "__proto__"/);
  });

  it('imageGrid and toImages check the data length against the shape', () => {
    const short = { data: new Float32Array(1), shape: [4, 3, 64, 64] };
    expect(() => imageGrid(short)).toThrow(/Expected 49152 elements \(shape \[4, 3, 64, 64\]\) for images\.data but received 1 elements/);
    expect(() => toImages(short)).toThrow(InvalidArgumentError);
    expect(() => imageGrid({ data: [0, 0, 0, 0] as unknown as Float32Array, shape: [1, 1, 2, 2] })).toThrow(/images\.data/);
  });

  it('generate --class with a smaller --n, sample --batch on a conditional model, --cfg on an unconditional one are errors', async () => {
    const [a, b, c] = await Promise.all([
      cliError('generate', '--class', '1', '2', '3', '4', '5', '--n', '3', '--steps', '2', '--out', path.join(dir, 'n.png')),
      cliError('sample', '--model', dit, '--class', '1', '--batch', '4', '--steps', '2', '--out', path.join(dir, 'b.safetensors')),
      cliError('sample', '--model', dit, '--class', '1', '--sampler', 'ddpm', '--eta', '0.5', '--steps', '2', '--out', path.join(dir, 'e.safetensors')),
    ]);
    expectOneLine(a.stderr, /InvalidArgumentError: Expected at least 5 \(one sample per --class label; a larger --n repeats them\) for --n but received 3/);
    expectOneLine(b.stderr, /InvalidArgumentError: Expected no --batch for a class-conditional model .* but received --batch 4/);
    expectOneLine(c.stderr, /InvalidArgumentError: Expected --eta only with --sampler ddim/);
    expect(existsSync(path.join(dir, 'n.png')) || existsSync(path.join(dir, 'b.safetensors'))).toBe(false);
  });

  it('--out: a missing folder, an existing folder or an unwritable place is refused before loading and sampling', async () => {
    // the model path does not exist either: the output is checked first
    const missing = await cliError('sample', '--model', path.join(dir, 'absent.safetensors'), '--class', '1', '--out', path.join(dir, 'no', 'x.safetensors'));
    expectOneLine(missing.stderr, /InvalidArgumentError: Expected a path in an existing folder \('.*no' does not exist\) for --out/);
    const folder = await cliError('sample', '--model', dit, '--class', '1', '--steps', '2', '--out', dir);
    expectOneLine(folder.stderr, /InvalidArgumentError: Expected a file path \(not an existing folder\) for --out/);
    const image = await cliError('generate', '--class', '1', '--steps', '2', '--out', path.join(dir, 'no', 'x.png'));
    expectOneLine(image.stderr, /for --out/);
    expect(() => checkOutputPath(path.join(dir, 'x.png'), 'file', '--out')).not.toThrow();
    expect(() => checkOutputPath(dit, 'folder', '--out')).toThrow(/not an existing file/);
  });

  it('a failed write (ENOSPC, ENOTDIR, ...) is a one-line OutputError', async () => {
    const notDir = path.join(dit, 'x.png'); // a "folder" that is a file
    expect(() => writeOutput(notDir, new Uint8Array(1))).toThrow(OutputError);
    expect(() => writeOutput(notDir, new Uint8Array(1))).toThrow(/^Cannot write '.*x\.png': ENOTDIR: not a directory$/);
    let full = true;
    try {
      accessSync('/dev/full', constants.W_OK);
    } catch {
      full = false;
    }
    if (!full) return; // no /dev/full here: the ENOTDIR case above stands for it
    expect(() => writeOutput('/dev/full', new Uint8Array(1))).toThrow(/Cannot write '\/dev\/full': ENOSPC: no space left on device$/);
    const [a, b] = await Promise.all([
      cliError('sample', '--model', dit, '--class', '1', '--steps', '2', '--out', '/dev/full'),
      cliError('generate', '--class', '1', '--steps', '2', '--out', '/dev/full'),
    ]);
    for (const e of [a, b]) {
      expect(e.code).toBe(1);
      expectOneLine(e.stderr, /^skipdit: OutputError: Cannot write '\/dev\/full': ENOSPC: no space left on device$/);
    }
  });
});

describe('Latte video outputs (item 10)', () => {
  // Runs the CLI from source in `cwd` (the shared helper runs it in the package root, where the default output
  // would land in the repository).
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const run = (cwd: string, ...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', tsx, path.join(packageRoot(), 'lib', 'cli.ts'), ...args], { cwd });

  it('the default output of a video is samples.gif (not a folder named samples.png); a .png name is refused', async () => {
    const cwd = mkdtempSync(path.join(dir, 'cwd-'));
    const r = await run(cwd, 'generate', '--model', latte, '--vae', vaeDir, '--class', '1', '--steps', '2');
    expect(r.stdout).toMatch(/wrote samples\.gif \(4 frames of 16x16, 1 video\)/);
    expect(readFileSync(path.join(cwd, 'samples.gif')).subarray(0, 6).toString()).toBe('GIF89a');
    expect(existsSync(path.join(cwd, 'samples.png'))).toBe(false);
    const bad = await cliError('generate', '--model', latte, '--vae', vaeDir, '--class', '1', '--steps', '2', '--out', path.join(dir, 'video.png'));
    expectOneLine(bad.stderr, /InvalidArgumentError: Expected a \.gif, an \.mp4 or a folder name \(PNG frames\) for a video for --out/);
    expect(existsSync(path.join(dir, 'video.png'))).toBe(false);
    const frames = path.join(dir, 'frames');
    await cli('generate', '--model', latte, '--vae', vaeDir, '--class', '1', '--steps', '2', '--out', frames);
    expect(statSync(path.join(frames, 'frame_003.png')).isFile()).toBe(true);
  });
});

describe('class_dropout_prob and extras, the official constructor arguments (item 12)', () => {
  it('class_dropout_prob > 0: the label table has the null row (the fixture: 11 rows = 10 classes + null)', async () => {
    const plain = await loadModel(dit, { backend: 'cpu' });
    const m = await loadModel(dit, { backend: 'cpu', config: { num_heads: 4, class_dropout_prob: 0.1 } });
    expect(m.config).toEqual(plain.config);
    expect(m.config).toMatchObject({ num_classes: 10, class_dropout: true });
    plain.dispose();
    m.dispose();
  });

  it('class_dropout_prob 0: no null class, every table row is a class, no guidance', async () => {
    const m = await loadModel(dit, { backend: 'cpu', config: { num_heads: 4, class_dropout_prob: 0 } });
    expect(m.config).toMatchObject({ num_classes: 11, class_dropout: false });
    expect(m.labelRows).toBe(11);
    expect(() => new Pipeline(m, { cfgScale: 4 })).toThrow(/Expected no guidance \(<= 1\) for a model without a null class for cfgScale/);
    const pipe = new Pipeline(m, { steps: 2 }).init({ labels: [10] }); // class 10 is a real class now
    expect((await pipe.run()).shape).toEqual([1, 4, 8, 8]);
    pipe.dispose();
    m.dispose();
    // generate defaults to no guidance for such a model (the DiT default CFG 4 would be refused)
    const out = path.join(dir, 'noguide.png');
    const r = await cli('generate', '--model', dit, '--config', '{"num_heads": 4, "class_dropout_prob": 0}', '--vae', vaeDir, '--class', '10', '--steps', '2', '--json', '--out', out);
    expect(JSON.parse(r.stdout)).toMatchObject({ cfgScale: null, labels: [10] });
  });

  it('a config that disagrees with the table rows, or with itself, is refused naming why', async () => {
    await expect(loadModel(dit, { backend: 'cpu', config: { num_heads: 4, num_classes: 11, class_dropout_prob: 0.1 } }))
      .rejects.toThrow(/has a label table of 11 rows \(y_embedder\.embedding_table\.weight\) but the config needs 12: num_classes 11 plus the null class/);
    await expect(loadModel(dit, { backend: 'cpu', config: { num_heads: 4, num_classes: 10, class_dropout_prob: 0 } }))
      .rejects.toThrow(CheckpointError);
    expect(() => normalizeConfig({ family: 'dit', class_dropout_prob: 1.5 })).toThrow(/a probability in \[0, 1\] for config\.class_dropout_prob/);
    expect(() => normalizeConfig({ family: 'dit', class_dropout_prob: 0.1, class_dropout: false })).toThrow(/for config\.class_dropout/);
  });

  it('Latte extras: 2 class-conditional, 1 unconditional (num_classes ignored, as the official constructor), 78 not supported', async () => {
    const m = await loadModel(latte, { backend: 'cpu', config: { num_heads: 4, extras: 2 } });
    expect(m.config).toMatchObject({ family: 'latte', num_classes: 5, class_dropout: true });
    m.dispose();
    expect(normalizeConfig({ family: 'latte', extras: 1, num_classes: 1000 })).toMatchObject({ num_classes: 0, class_dropout: false });
    // this file is class-conditional: extras 1 contradicts its label table
    await expect(loadModel(latte, { backend: 'cpu', config: { num_heads: 4, extras: 1 } })).rejects.toThrow(/looks like a latte-skip class-conditional model but the config says latte-skip unconditional/);
    await expect(loadModel(latte, { backend: 'cpu', config: { num_heads: 4, extras: 78 } })).rejects.toThrow(/text-conditioned Latte \(78\) is not supported yet for config\.extras/);
    expect(() => normalizeConfig({ family: 'latte', extras: 3 })).toThrow(/1 \(unconditional\) or 2 \(class-conditional\) for config\.extras but received 3/);
    expect(() => normalizeConfig({ family: 'latte', extras: 2, num_classes: 0 })).toThrow(/positive class count with extras 2/);
    expect(() => normalizeConfig({ family: 'dit', extras: 2 })).toThrow(/no extras for DiT/);
  });

  it('metadata in the official names: extras 1 with the default num_classes 1000 loads as unconditional', async () => {
    const config = normalizeConfig({ family: 'latte', skip: true, depth: 4, hidden_size: 16, num_heads: 2, patch_size: 2, input_size: 4, in_channels: 1, num_frames: 2, num_classes: 0 });
    const file = path.join(dir, 'uncond.safetensors');
    const { writeRandomCheckpoint } = await import('../lib/random-checkpoint.js');
    writeRandomCheckpoint(file, config);
    const meta = { ...JSON.parse(readSafetensors(file).metadata.config), num_classes: 1000, extras: 1, class_dropout_prob: 0.1 };
    delete meta.class_dropout;
    const tensors = readSafetensors(file).tensors as Record<string, { shape: number[]; data: Float32Array }>;
    writeSafetensors(file, tensors, { config: JSON.stringify(meta) });
    const m = await loadModel(file, { backend: 'cpu' });
    expect(m.config).toEqual(config);
    m.dispose();
  });
});
