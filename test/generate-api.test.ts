// generate(), the library call behind `skipdit generate` and `skipdit sample`: the same samples as a Pipeline run
// with the same settings, abort through its signal, progress phases, typed errors.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import omggif from 'omggif';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, InvalidArgumentError, Pipeline, bundledModel, encodePng, generate, imageGrid, loadModel, type GenerateProgress, type Model,
  type Tensor,
} from '../lib/index.js';
import { cli } from './helpers/cli.js';
import { fixturePath, fixturesDir } from './helpers/fixtures.js';
import { readSafetensors } from './helpers/safetensors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-generate-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dit = fixturePath('dit-skip-tiny', 'model.safetensors');
const latte = fixturePath('latte-skip-tiny', 'model.safetensors');
const vae = path.join(fixturesDir, 'vae-tiny');

/** The bytes of a tensor's data: equal bytes = bit-identical samples. */
const bits = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

describe('generate() on the bundled model', () => {
  it('gives the samples of a Pipeline run with its recommended settings (DDIM, CFG 3), bit for bit, and their PNG grid; the CLI writes the same file', async () => {
    const out = path.join(dir, 'digits.png');
    const r = await generate({ classes: [3, 7], n: 4, steps: 12, cache: 'dit:2:1', seed: 5, out });
    const model = await loadModel(bundledModel.path());
    const pipe = new Pipeline(model, { sampler: 'ddim', steps: 12, cfgScale: 3, cache: 'dit:2:1' }).init({ labels: [3, 7, 3, 7], seed: 5 });
    const expected = await pipe.run();
    expect(r.format).toBe('png');
    expect(r.samples.shape).toEqual([4, 1, 28, 28]);
    expect(bits(r.samples).equals(bits(expected))).toBe(true);
    expect(readFileSync(out).equals(encodePng(imageGrid(expected, { nrow: 2 })))).toBe(true); // a square grid for the bundled model
    expect(r.images).toHaveLength(1);
    expect(r.report).toMatchObject({ out, labels: [3, 7, 3, 7], sampler: 'ddim', steps: 12, cfgScale: 3, seed: 5, cachedSteps: pipe.cacheStats.cachedSteps });
    expect(r.report.cachedSteps).toBeGreaterThan(0);
    model.dispose();

    const viaCli = path.join(dir, 'digits-cli.png');
    await cli('generate', '--class', '3', '7', '--n', '4', '--steps', '12', '--cache', 'dit:2:1', '--seed', '5', '--out', viaCli);
    expect(readFileSync(viaCli).equals(readFileSync(out))).toBe(true);
  });

  it('an abort stops the step in flight, writes nothing and rejects with AbortError', async () => {
    const out = path.join(dir, 'aborted.png');
    const controller = new AbortController();
    const events: GenerateProgress[] = [];
    const run = generate({
      classes: [1], steps: 50, out, signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        // After step 2 the pipeline starts step 3 at once: this abort lands while that step runs (it stops at its
        // next block; a step already past its last block completes).
        if (e.phase === 'sample' && e.completed === 2) setImmediate(() => controller.abort());
      },
    });
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    const done = Number(/^Sampling aborted after ([23]) of 50 steps$/.exec((err as Error).message)?.[1]);
    expect(events.at(-1)).toMatchObject({ phase: 'sample', completed: done, total: 50 });
    expect(events.some((e) => e.phase === 'write')).toBe(false);
    expect(existsSync(out)).toBe(false);

    // aborted before the call: nothing loads
    const before = generate({ classes: [1], out, signal: AbortSignal.abort(), onProgress: (e) => events.push(e) });
    await expect(before).rejects.toThrow(/^Generation aborted before loading; nothing was written$/);
    expect(events.at(-1)).toMatchObject({ completed: done });
  });
});

describe('generate() with a loaded model', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(dit, { backend: 'cpu' });
  });
  afterAll(() => model?.dispose());

  it("format 'safetensors' writes the Pipeline's latents (as skipdit sample) and leaves the model loaded", async () => {
    const out = path.join(dir, 'latents.safetensors');
    const options = { model, format: 'safetensors', classes: [3, 7], steps: 10, cfg: 4, seed: 1, cache: 'dit:3', out } as const;
    const r = await generate(options);
    const pipe = new Pipeline(model, { sampler: 'ddim', steps: 10, cfgScale: 4, cache: 'dit:3' }).init({ labels: [3, 7], seed: 1 });
    const expected = await pipe.run();
    pipe.dispose();
    expect(bits(r.samples).equals(bits(expected))).toBe(true);
    const file = readSafetensors(out);
    expect(Buffer.from((file.tensors.samples.data as Float32Array).buffer).equals(bits(expected))).toBe(true);
    expect(file.metadata).toMatchObject({ sampler: 'ddim', steps: '10', seed: '1', labels: '[3,7]', cfg_scale: '4' });
    expect(file.metadata.model).toBeUndefined(); // no file name to tell
    expect(r.report.stepsDetail.map((s) => s.cached)).toEqual([false, true, true, false, true, true, false, true, true, false]);
    expect(r.report).toMatchObject({ model: null, backend: 'cpu', shape: [2, 4, 8, 8], cfgScale: 4 });
    expect(model.disposed).toBe(false);
    const again = await generate(options);
    expect(bits(again.samples).equals(bits(r.samples))).toBe(true);
  });

  it('bad options are typed errors naming them (by optionNames when given), before any sampling', async () => {
    const out = path.join(dir, 'bad.png');
    const batch = generate({ model, format: 'safetensors', classes: [1], n: 2, out: path.join(dir, 'bad.safetensors') });
    await expect(batch).rejects.toThrow(InvalidArgumentError);
    await expect(batch).rejects.toThrow(/^Expected no n for a class-conditional model \(one sample per classes label\) but received n 2$/);
    await expect(generate({ model, vae, classes: [1, 2, 3], n: 2, out })).rejects.toThrow(/^Expected at least 3 .* for n but received 2$/);
    await expect(generate({ model, vae, classes: [1], n: 2000, out, optionNames: { n: '--count' } })).rejects.toThrow(/^Expected --count in \[1, 1024\] but received 2000$/);
    await expect(generate({ model, backend: 'cpu', classes: [1] })).rejects.toThrow(/for backend but received "cpu"/);
    await expect(generate({ format: 'jpeg' as 'png' })).rejects.toThrow(/^Expected 'png', 'gif', 'mp4', 'frames', 'safetensors' for format but received "jpeg"$/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('generate() with Latte and a VAE', () => {
  it('reports load (the model\'s and the VAE\'s tensors), every sampling step, every decoded frame, then write; the GIF holds the frames it returns', async () => {
    const out = path.join(dir, 'video.gif');
    const events: GenerateProgress[] = [];
    const r = await generate({ model: latte, backend: 'cpu', vae, classes: [1, 2], steps: 4, cache: 'latte', fps: 4, out, onProgress: (e) => events.push(e) });
    expect(events.map((e) => e.phase).filter((p, i, a) => p !== a[i - 1])).toEqual(['load', 'sample', 'decode', 'write']);
    // tensor progress of the model file, the model is loaded (its backend), then the VAE file's tensors
    const loads = events.filter((e) => e.phase === 'load');
    const announced = loads.findIndex((e) => 'backend' in e);
    expect(loads[announced]).toEqual({ phase: 'load', backend: 'cpu', fallback: undefined });
    for (const [target, part] of [['model', loads.slice(0, announced)], ['vae', loads.slice(announced + 1)]] as const) {
      expect(part.length, target).toBeGreaterThan(0);
      for (const e of part) expect(e).toMatchObject({ phase: 'load', target, unit: 'tensors' });
      const done = part.map((e) => ('completed' in e ? e.completed : NaN));
      expect(done.every((d, i) => i === 0 || d > done[i - 1]), `${target}: ${done}`).toBe(true);
      expect(part.at(-1)).toMatchObject({ completed: (part.at(-1) as { total: number }).total });
    }
    const steps = events.filter((e) => e.phase === 'sample');
    expect(steps.map((e) => e.completed)).toEqual([0, 1, 2, 3, 4]);
    expect(steps.map((e) => e.step?.index)).toEqual([undefined, 0, 1, 2, 3]);
    expect(steps.map((e) => e.step?.cached)).toEqual([undefined, ...r.report.steps_detail.map((s) => s.cached)]);
    expect(events.filter((e) => e.phase === 'decode').map((e) => e.completed)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]); // 2 videos x 4 frames
    expect(events.at(-1)).toEqual({ phase: 'write', out });

    // the official Latte defaults: DDIM, CFG 7
    const model = await loadModel(latte, { backend: 'cpu' });
    const expected = await new Pipeline(model, { sampler: 'ddim', steps: 4, cfgScale: 7, cache: 'latte' }).init({ labels: [1, 2], seed: 0 }).run();
    model.dispose();
    expect(bits(r.samples).equals(bits(expected))).toBe(true);
    expect(r.format).toBe('gif');
    expect(r.images).toHaveLength(4);
    const gif = new omggif.GifReader(readFileSync(out));
    expect([gif.numFrames(), gif.width, gif.height]).toEqual([4, r.images[0].width, r.images[0].height]);
    expect(gif.frameInfo(0).delay).toBe(25); // 4 fps, in 10 ms units
  });
});
