// Issue 15: progress of loads and VAE decodes (onProgress, delivered from the worker through a thread-safe function,
// never able to break the call), and no model call that waits for the model's lock on the JS thread
// (model.createLatents() and latents.writeAsync() are calls of the model, on a pool thread).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, InvalidArgumentError, Pipeline, createSampler, inspectCheckpoint, loadModel, loadVae, type DecodeProgress,
  type LoadProgress, type Model, type Tensor,
} from '../lib/index.js';
import { normalizeConfig } from '../lib/config.js';
import { native } from '../lib/native.js';
import { gaussianNoise } from '../lib/random.js';
import { writeRandomCheckpoint } from '../lib/random-checkpoint.js';
import { bits } from './helpers/compare.js';
import { fixturePath, fixturesDir } from './helpers/fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const dit = fixturePath('dit-skip-tiny', 'model.safetensors');
const vaeDir = path.join(fixturesDir, 'vae-tiny');
const vaeFile = path.join(vaeDir, 'model.safetensors');
const vaeConfig = JSON.parse(readFileSync(path.join(vaeDir, 'config.json'), 'utf8'));

/** A bigger random DiT-skip (a load of a few hundred ms, forwards of tens of ms). */
let big: string;
beforeAll(() => {
  big = path.join(dir, 'dit-big.safetensors');
  writeRandomCheckpoint(big, normalizeConfig({
    family: 'dit', skip: true, input_size: 32, patch_size: 2, in_channels: 4, hidden_size: 384, depth: 12, num_heads: 6,
    mlp_ratio: 4, num_classes: 10, learn_sigma: true, num_frames: 1,
  }), 4);
});

/** Events in order, with increasing `completed`, the last one complete; returns their total. */
function checkEvents(events: Array<LoadProgress | DecodeProgress>, phase: string, unit: string): number {
  expect(events.length).toBeGreaterThan(0);
  const total = events[0].total;
  for (const e of events) expect(e).toEqual({ phase, completed: e.completed, total, unit });
  const done = events.map((e) => e.completed);
  expect(done.every((d, i) => d >= 1 && d <= total && (i === 0 || d > done[i - 1])), String(done)).toBe(true);
  expect(done.at(-1)).toBe(total);
  return total;
}

/** Collects the process warnings emitted while `fn` runs (and the ticks after it). */
async function warningsDuring(fn: () => Promise<unknown>): Promise<Error[]> {
  const warnings: Error[] = [];
  const listener = (w: Error) => warnings.push(w);
  process.on('warning', listener);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 20)); // emitWarning reports on a later tick
  } finally {
    process.off('warning', listener);
  }
  return warnings;
}

describe('onProgress of loadModel, loadVae and vae.decode', () => {
  it('loadModel: tensors bound, increasing, the last one (completed === total, the tensors of the file) before it resolves', async () => {
    const events: LoadProgress[] = [];
    const model = await loadModel(dit, { backend: 'cpu', onProgress: (e) => events.push(e) });
    const total = checkEvents(events, 'load', 'tensors');
    expect(total).toBe(Object.keys((await inspectCheckpoint(dit)).tensors).length);
    const count = events.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events.length).toBe(count); // nothing after the load resolved
    model.dispose();
  });

  it('loadModel: at most one report every ~50 ms, plus the last', async () => {
    const events: Array<LoadProgress & { at: number }> = [];
    const started = performance.now();
    const model = await loadModel(big, { backend: 'cpu', onProgress: (e) => events.push({ ...e, at: performance.now() }) });
    const ms = performance.now() - started;
    checkEvents(events.map(({ at, ...e }) => e), 'load', 'tensors');
    console.log(`  load ${ms.toFixed(0)} ms: ${events.length} reports of ${events[0].total} tensors`);
    expect(events.length).toBeLessThanOrEqual(Math.ceil(ms / 50) + 2);
    expect(events.length).toBeLessThan(events[0].total);
    model.dispose();
  });

  it('loadVae: the decoder tensors of the file', async () => {
    const events: LoadProgress[] = [];
    const vae = await loadVae(vaeFile, { config: vaeConfig, onProgress: (e) => events.push(e) });
    const total = checkEvents(events, 'load', 'tensors');
    const names = Object.keys((await inspectCheckpoint(vaeFile)).tensors);
    expect(total).toBe(names.filter((n) => /^(decoder|post_quant_conv)\./.test(n)).length);
    vae.dispose();
  });

  it('vae.decode: blocks, per chunk the mid block and each up block; the same image as without', async () => {
    const vae = await loadVae(vaeFile, { config: vaeConfig });
    const z = { data: gaussianNoise(3 * 4 * 8 * 8, 2), shape: [3, 4, 8, 8] };
    const plain = await vae.decode(z);
    const levels = vaeConfig.block_out_channels.length;
    for (const chunk of [1, 2]) {
      const events: DecodeProgress[] = [];
      const image = await vae.decode(z, { chunk, onProgress: (e) => events.push(e) });
      expect(checkEvents(events, 'decode', 'blocks')).toBe(Math.ceil(3 / chunk) * (levels + 1));
      expect(bits(image.data)).toEqual(bits(plain.data));
    }
    vae.dispose();
  });

  it('a throwing (or rejecting) onProgress does not fail the call: one process warning per call', async () => {
    let calls = 0;
    let model: Model | undefined;
    const warnings = await warningsDuring(async () => {
      model = await loadModel(dit, { backend: 'cpu', onProgress: () => { calls++; throw new Error('progress bar broke'); } });
    });
    expect(model!.disposed).toBe(false);
    expect(calls).toBeGreaterThan(0);
    const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'SKIPDIT_PROGRESS_CALLBACK');
    expect(ours).toHaveLength(1);
    expect(ours[0].message).toMatch(/onProgress callback failed .*progress bar broke/);
    model!.dispose();

    const vae = await loadVae(vaeFile, { config: vaeConfig, onProgress: async () => { throw new Error('async failure'); } });
    const z = { data: gaussianNoise(4 * 8 * 8, 1), shape: [1, 4, 8, 8] };
    const rejected = await warningsDuring(() => vae.decode(z, { onProgress: () => Promise.reject(new Error('rejected')) }));
    expect(rejected.some((w) => /rejected/.test(w.message))).toBe(true);
    vae.dispose();
  });

  it('onProgress that is not a function: InvalidArgumentError naming options.onProgress', async () => {
    const bad = 'every 50 ms' as unknown as () => void;
    const message = /^Expected a function for options\.onProgress but received "every 50 ms"$/;
    await expect(loadModel(dit, { onProgress: bad })).rejects.toThrow(InvalidArgumentError);
    await expect(loadModel(dit, { onProgress: bad })).rejects.toThrow(message);
    await expect(loadVae(vaeFile, { config: vaeConfig, onProgress: bad })).rejects.toThrow(message);
    const vae = await loadVae(vaeFile, { config: vaeConfig });
    await expect(vae.decode({ data: new Float32Array(256), shape: [1, 4, 8, 8] }, { onProgress: bad })).rejects.toThrow(message);
    vae.dispose();
    // the binding checks it too
    expect(() => native().loadVae(vaeFile, vaeConfig, 'cpu', 'float32', { onProgress: 3 as unknown as () => void }))
      .toThrow(/Expected a function for options\.onProgress/);
  });

  it('an aborted load reports nothing after it rejected', async () => {
    const events: LoadProgress[] = [];
    const controller = new AbortController();
    const loading = loadModel(big, { backend: 'cpu', signal: controller.signal, onProgress: (e) => {
      events.push(e);
      controller.abort();
    } });
    await expect(loading).rejects.toBeInstanceOf(AbortError);
    const count = events.length;
    expect(count).toBeGreaterThan(0);
    expect(events.at(-1)!.completed).toBeLessThan(events[0].total);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events.length).toBe(count);
  });
});

describe('no model call waits for the model\'s lock on the JS thread', () => {
  let model: Model;
  let mid: string;
  beforeAll(async () => {
    mid = path.join(dir, 'dit-mid.safetensors');
    // 256 tokens, width 192, 8 blocks: tens of milliseconds per forward at batch 4
    writeRandomCheckpoint(mid, normalizeConfig({
      family: 'dit', skip: true, input_size: 32, patch_size: 2, in_channels: 4, hidden_size: 192, depth: 8, num_heads: 3,
      mlp_ratio: 4, num_classes: 10, learn_sigma: true, num_frames: 1,
    }), 3);
    model = await loadModel(mid, { backend: 'cpu' });
  });
  afterAll(() => model?.dispose());
  const x = (batch: number, seed = 1): Tensor => ({ data: gaussianNoise(batch * 4 * 32 * 32, seed), shape: [batch, 4, 32, 32] });
  const ddim = createSampler('ddim', 10);

  it('createLatents returns a Promise and takes its turn behind a queued step; the event loop keeps turning meanwhile', async () => {
    const first = await model.createLatents(x(2));
    const forward = model.forward({ x: x(16), t: 500, y: Array.from({ length: 16 }, (_, i) => i % 10) });
    const step = model.sampleStep(first, { t: ddim.timesteps[0], y: [1, 2] }, ddim.coefficients(0));
    const order: string[] = [];
    void forward.then(() => order.push('forward'));
    void step.then(() => order.push('step'));
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const creating = model.createLatents(x(2, 7));
    expect(creating).toBeInstanceOf(Promise);
    expect(model.pendingCalls).toBe(3);
    const second = await creating;
    running = false;
    order.push('createLatents');
    expect(order).toEqual(['forward', 'step', 'createLatents']);
    console.log(`  ${ticks} event-loop turns while createLatents waited behind a batch-16 forward and a step`);
    expect(ticks).toBeGreaterThan(2);
    expect(bits((await second.readAsync()).data)).toEqual(bits(x(2, 7).data));
    first.dispose();
    second.dispose();
  });

  it('createLatents copies x at the call; an abort while it waits rejects and creates nothing', async () => {
    const values = x(2, 3);
    const original = bits(values.data);
    const running = model.forward({ x: x(8), t: 500, y: Array.from({ length: 8 }, (_, i) => i % 10) });
    const creating = model.createLatents(values);
    values.data.fill(9);
    const controller = new AbortController();
    const aborted = model.createLatents(x(2), { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await running;
    const latents = await creating;
    expect(bits(latents.read().data)).toEqual(original);
    latents.dispose();
  });

  it('latents.writeAsync: copied at the call, written in its turn while read()/write() are refused; readAsync reads after it', async () => {
    const latents = await model.createLatents(x(2));
    const running = model.forward({ x: x(8), t: 500, y: Array.from({ length: 8 }, (_, i) => i % 10) });
    expect(model.runningCalls).toBe(1);
    const values = x(2, 11);
    const expected = bits(values.data);
    const writing = latents.writeAsync(values);
    values.data.fill(0);
    expect(() => latents.write(values)).toThrow(/while a call of their model is running.*writeAsync\(\)/);
    expect(() => latents.read()).toThrow(/while a call of their model is running.*readAsync\(\)/);
    const reading = latents.readAsync();
    await running;
    await writing;
    expect(bits((await reading).data)).toEqual(expected);
    await expect(latents.writeAsync({ data: new Float32Array(3), shape: [3] })).rejects.toThrow(/latents\.shape/);
    latents.dispose();
    await expect(latents.writeAsync(x(2))).rejects.toThrow(/disposed/);
  });

  it('the native read()/write() only try the lock: a typed error at once while a call holds it', async () => {
    const latents = await model.createLatents(x(2));
    let finished = false;
    const running = model.forward({ x: x(16), t: 500, y: Array.from({ length: 16 }, (_, i) => i % 10) }).then(() => (finished = true));
    // (lib/latents.ts would refuse first: the native calls are made directly.) Until the worker has the lock they succeed.
    let refused: unknown;
    while (!finished && !refused) {
      const started = performance.now();
      try {
        latents.native.read();
      } catch (err) {
        refused = err;
      }
      expect(performance.now() - started).toBeLessThan(20); // never a wait for the forward
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(refused).toMatchObject({ code: 'SKIPDIT_INVALID_ARGUMENT', message: expect.stringMatching(/while a call of their model is running/) });
    expect(() => latents.native.write(new Float32Array(2 * 4 * 32 * 32))).toThrow(/while a call of their model is running/);
    await running;
    expect(latents.native.read().length).toBe(2 * 4 * 32 * 32);
    latents.dispose();
  });

  it('Pipeline: init() and setting latents while another pipeline of the model steps (they reach the backend with the next step)', async () => {
    const options = { steps: 3, sampler: 'ddim' as const, cfgScale: 3 };
    const alone = await new Pipeline(model, options).init({ labels: [4], seed: 2 }).run();
    const other = new Pipeline(model, options).init({ labels: [1], seed: 1 });
    const step = other.step();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const pipe = new Pipeline(model, options).init({ labels: [4], seed: 2 }); // no backend call
    const start = pipe.latents;
    pipe.latents = { data: new Float32Array(start.data.length).fill(0.5), shape: start.shape };
    pipe.latents = start;
    expect(bits(pipe.latents.data)).toEqual(bits(start.data));
    await step;
    expect(bits((await pipe.run()).data)).toEqual(bits(alone.data));
    other.dispose();
    pipe.dispose();
  });
});
