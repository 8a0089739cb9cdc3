// Issue 14, the process-level defects: queued model calls must not hold libuv pool threads, workspace memory is
// bounded and reported truthfully, a bad SKIPDIT_NUM_THREADS is a typed error (it aborted the process), and
// backend 'auto' trusts CUDA only after a known-answer self-test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, InvalidArgumentError, Pipeline, SELF_TEST_TOLERANCE, backends, bundledModel, loadModel, loadVae, runSelfTest, type Model,
} from '../lib/index.js';
import { normalizeConfig } from '../lib/config.js';
import { packageRoot } from '../lib/native.js';
import { gaussianNoise } from '../lib/random.js';
import { writeRandomCheckpoint } from '../lib/random-checkpoint.js';
import { bits } from './helpers/compare.js';

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'skipdit-robust-'));
  file = path.join(dir, 'dit.safetensors');
  // 256 tokens, width 192, 8 blocks: tens of milliseconds per forward at batch 4.
  writeRandomCheckpoint(file, normalizeConfig({
    family: 'dit', skip: true, input_size: 32, patch_size: 2, in_channels: 4, hidden_size: 192, depth: 8, num_heads: 3,
    mlp_ratio: 4, num_classes: 10, learn_sigma: true, num_frames: 1,
  }), 3);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function input(batch: number, seed = 1) {
  const shape = [batch, 4, 32, 32];
  return { x: { data: gaussianNoise(batch * 4 * 32 * 32, seed), shape }, t: 500, y: Array.from({ length: batch }, (_, i) => i % 10) };
}

/** Runs a script in a fresh Node process (env changes, and so that a regression that aborts or hangs fails). */
function node(script: string, env: Record<string, string>, timeout = 60_000) {
  const scriptFile = path.join(dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(scriptFile, script);
  return spawnSync(process.execPath, ['--import', 'tsx', scriptFile], {
    cwd: packageRoot(), env: { ...process.env, ...env }, encoding: 'utf8', timeout,
  });
}

const lib = JSON.stringify(path.join(packageRoot(), 'lib', 'index.ts'));

describe('queued model calls hold no libuv pool thread (item 4)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(file, { backend: 'cpu' });
  });
  afterAll(() => model.dispose());

  it('8 forwards queued on one model: fs work still completes in a fraction of one forward', async () => {
    const one = performance.now();
    await model.forward(input(4));
    const forwardMs = performance.now() - one;

    const small = path.join(dir, 'small.txt');
    writeFileSync(small, 'x'.repeat(1000));
    await readFile(small);
    const calls = Array.from({ length: 8 }, (_, i) => model.forward(input(4, i)));
    expect(model.pendingCalls).toBe(8);
    const started = performance.now();
    await readFile(small); // needs a pool thread: before, 4 of them sat blocked on the model's mutex
    const readMs = performance.now() - started;
    await Promise.all(calls);
    expect(model.pendingCalls).toBe(0);
    console.log(`  forward ${forwardMs.toFixed(0)} ms; readFile behind 8 queued forwards ${readMs.toFixed(1)} ms`);
    expect(readMs).toBeLessThan(forwardMs / 2);
  });

  it('calls run in call order; an abort while waiting rejects at once and never runs (the cache does not advance)', async () => {
    const cache = model.createCache('dit:2:1');
    const controller = new AbortController();
    const first = model.forward(input(2), { cache });
    const second = model.forward(input(2), { cache, signal: controller.signal });
    const third = model.forward(input(2), { cache });
    controller.abort();
    await expect(second).rejects.toBeInstanceOf(AbortError);
    const [a, c] = await Promise.all([first, third]);
    expect([a.cached, c.cached]).toEqual([false, true]); // the aborted call did not count: call 2 of the run is cached
    expect(cache.stats().calls).toBe(2);
  });

  it('latents.read() while a call of its model runs is a typed error, not a blocked event loop; readAsync() waits its turn', async () => {
    const latents = await model.createLatents(input(2).x);
    const pending = model.forward(input(4));
    expect(model.runningCalls).toBe(1);
    expect(() => latents.read()).toThrow(/while a call of their model is running/);
    expect(() => latents.write(input(2).x)).toThrow(/while a call of their model is running/);
    const queued = latents.readAsync();
    await pending;
    expect(bits((await queued).data)).toEqual(bits(input(2).x.data));
    expect(latents.read().data.length).toBe(2 * 4 * 32 * 32);
    latents.dispose();
  });

  it('two pipelines on one model, concurrently: each run equals its run alone', async () => {
    const options = { steps: 4, sampler: 'ddim' as const, cfgScale: 3, cache: 'dit:2:1' };
    const alone = await new Pipeline(model, options).init({ labels: [1], seed: 5 }).run();
    const [a, b] = await Promise.all([
      new Pipeline(model, options).init({ labels: [1], seed: 5 }).run(),
      new Pipeline(model, options).init({ labels: [2], seed: 6 }).run(),
    ]);
    expect(bits(a.data)).toEqual(bits(alone.data));
    expect(bits(b.data)).toEqual(bits((await new Pipeline(model, options).init({ labels: [2], seed: 6 }).run()).data));
  });
});

describe('an abort stops a running call between blocks, and the stopped call changes nothing', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(file, { backend: 'cpu' });
  });
  afterAll(() => model.dispose());

  it('forward: AbortError long before the forward would end; the Skip-Cache schedule is as if it never ran', async () => {
    const started = performance.now();
    await model.forward(input(16));
    const fullMs = performance.now() - started;

    const reference = [];
    const refCache = model.createCache('dit:2:1');
    for (const t of [600, 580, 560]) reference.push((await model.forward({ ...input(16), t }, { cache: refCache })).data);

    const cache = model.createCache('dit:2:1');
    const got = [(await model.forward({ ...input(16), t: 600 }, { cache })).data];
    const controller = new AbortController();
    const t0 = performance.now();
    const stopped = model.forward({ ...input(16), t: 580 }, { cache, signal: controller.signal });
    controller.abort(); // the worker has the call; it stops at its next block check
    await expect(stopped).rejects.toBeInstanceOf(AbortError);
    const abortMs = performance.now() - t0;
    console.log(`  forward ${fullMs.toFixed(0)} ms; aborted after ${abortMs.toFixed(0)} ms`);
    expect(abortMs).toBeLessThan(fullMs / 2);
    for (const t of [580, 560]) got.push((await model.forward({ ...input(16), t }, { cache })).data);
    expect(got.map(bits)).toEqual(reference.map(bits));
    expect(cache.stats()).toMatchObject({ calls: 3, cachedSteps: 1 });
  });

  it('Pipeline.run: the step in flight stops; the index and latents stay; continuing gives the uninterrupted result', async () => {
    const options = { steps: 6, sampler: 'ddpm' as const, cfgScale: 3, cache: 'dit:2:1' };
    const reference = await new Pipeline(model, options).init({ labels: [4, 5], seed: 9 }).run();
    const pipe = new Pipeline(model, options).init({ labels: [4, 5], seed: 9 });
    await pipe.step();
    await pipe.step();
    const before = pipe.latents.data;
    const controller = new AbortController();
    const run = pipe.run({ signal: controller.signal });
    controller.abort();
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as Error).message).toBe('Sampling aborted after 2 of 6 steps');
    expect(pipe.index).toBe(2);
    expect(bits(pipe.latents.data)).toEqual(bits(before));
    expect(bits((await pipe.run()).data)).toEqual(bits(reference.data));
  });

  it('loadModel: stops between tensors', async () => {
    const big = path.join(dir, 'dit-big.safetensors');
    writeRandomCheckpoint(big, normalizeConfig({
      family: 'dit', skip: true, input_size: 32, patch_size: 2, in_channels: 4, hidden_size: 384, depth: 12, num_heads: 6,
      mlp_ratio: 4, num_classes: 10, learn_sigma: true, num_frames: 1,
    }), 4);
    let started = performance.now();
    (await loadModel(big, { backend: 'cpu' })).dispose();
    const loadMs = performance.now() - started;
    const controller = new AbortController();
    started = performance.now();
    setTimeout(() => controller.abort(), loadMs / 2); // the file is inspected by then; the tensors are being bound
    const err = await loadModel(big, { backend: 'cpu', signal: controller.signal }).catch((e: unknown) => e);
    console.log(`  load ${loadMs.toFixed(0)} ms; aborted at ${(loadMs / 2).toFixed(0)} ms, rejected after ${(performance.now() - started).toFixed(0)} ms`);
    expect(err).toBeInstanceOf(AbortError); // without the native check the load would complete and resolve
    rmSync(big);
  });

  it('VAE decode: stops between chunks and blocks', async () => {
    const vaeDir = path.join(packageRoot(), 'test', 'fixtures', 'vae-tiny');
    const config = JSON.parse(readFileSync(path.join(vaeDir, 'config.json'), 'utf8'));
    const vae = await loadVae(path.join(vaeDir, 'model.safetensors'), { config });
    const z = { data: gaussianNoise(48 * 4 * 8 * 8, 4), shape: [48, 4, 8, 8] };
    let started = performance.now();
    await vae.decode(z);
    const fullMs = performance.now() - started;
    const controller = new AbortController();
    started = performance.now();
    const decoding = vae.decode(z, { signal: controller.signal });
    controller.abort();
    await expect(decoding).rejects.toBeInstanceOf(AbortError);
    expect(performance.now() - started).toBeLessThan(fullMs / 2);
    vae.dispose();
  });
});

describe('workspace memory is bounded and reported truthfully (item 5)', () => {
  it('a call bigger than options.workspace.retain releases its workspace; smaller ones keep it for reuse', async () => {
    const model = await loadModel(file, { backend: 'cpu', workspace: { retain: 8 << 20 } });
    await model.forward(input(1));
    const small = model.memory().workspaceBytes;
    expect(small).toBeGreaterThan(0);
    expect(small).toBeLessThanOrEqual(8 << 20);
    await model.forward(input(1));
    expect(model.memory().workspaceBytes).toBe(small); // reused, not grown
    await model.forward(input(16)); // ~ 40 MB of activations
    expect(model.memory().workspaceBytes).toBe(0);
    model.dispose();
  });

  it('a call over options.workspace.max is a typed error; the workspace is released and the cache keeps its schedule', async () => {
    const reference = await loadModel(file, { backend: 'cpu' });
    const model = await loadModel(file, { backend: 'cpu', workspace: { max: 16 << 20 } });
    const refCache = reference.createCache('dit:2:1');
    const cache = model.createCache('dit:2:1');
    const expected = [];
    for (const t of [600, 580, 560]) expected.push((await reference.forward({ ...input(2), t }, { cache: refCache })).data);

    const got = [(await model.forward({ ...input(2), t: 600 }, { cache })).data];
    await expect(model.forward({ ...input(32), t: 590 }, { cache })).rejects.toThrow(/options\.workspace\.max/);
    await expect(model.forward({ ...input(32), t: 590 }, { cache })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(model.memory().workspaceBytes).toBe(0);
    // the failed calls (another batch size) neither reset the run nor advanced it: cached, then full, bit for bit
    for (const t of [580, 560]) got.push((await model.forward({ ...input(2), t }, { cache })).data);
    expect(got.map(bits)).toEqual(expected.map(bits));
    expect(cache.stats()).toMatchObject({ calls: 3, fullSteps: 2, cachedSteps: 1 });
    for (const m of [model, reference]) m.dispose();
  });

  it('options.workspace is validated', async () => {
    await expect(loadModel(file, { workspace: { max: -1 } })).rejects.toThrow(/options\.workspace\.max/);
    await expect(loadModel(file, { workspace: 5 as never })).rejects.toThrow(/options\.workspace/);
  });
});

describe('SKIPDIT_NUM_THREADS (item 8)', () => {
  for (const value of ['100000', 'abc', '4x', '0']) {
    it(`SKIPDIT_NUM_THREADS=${value} is a typed error naming it; the process lives on`, () => {
      const r = node(`
        import { backends, loadModel, bundledModel } from ${lib};
        try { backends(); } catch (e) { console.log('backends', e.name, e.message); }
        try { const m = await loadModel(bundledModel.path(), { backend: 'cpu' }); await m.forward({ x: { data: new Float32Array(784), shape: [1, 1, 28, 28] }, t: 1, y: [1] }); }
        catch (e) { console.log('forward', e.name, e.message); }
        console.log('alive');
      `, { SKIPDIT_NUM_THREADS: value });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/backends InvalidArgumentError Expected an integer from 1 to 1024 for SKIPDIT_NUM_THREADS/);
      expect(r.stdout).toMatch(/forward InvalidArgumentError .*SKIPDIT_NUM_THREADS/);
      expect(r.stdout).toMatch(/alive/);
    });
  }

  it('SKIPDIT_NUM_THREADS=3 sizes the pool', () => {
    const r = node(`import { backends } from ${lib}; console.log(backends()[0].details.threads);`, { SKIPDIT_NUM_THREADS: '3' });
    expect(r.stdout.trim()).toBe('3');
  });
});

describe("backend 'auto' trusts CUDA only after a known-answer self-test", () => {
  it('the self-test compares for real: the CPU against itself passes (float32 bit-exact), with measured bf16 errors', async () => {
    const report = await runSelfTest('cpu');
    expect(report.passed).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      'float32 forward', 'float32 full', 'float32 cached', 'bfloat16 forward', 'bfloat16 full', 'bfloat16 cached',
    ]);
    for (const c of report.checks) {
      if (c.name.startsWith('float32')) expect(c.error).toBe(0);
      else expect(c.error).toBeGreaterThan(1e-6); // bf16 weights really differ, and stay within their tolerance
      expect(c.error).toBeLessThanOrEqual(SELF_TEST_TOLERANCE[c.name.split(' ')[0] as 'float32']);
    }
  });

  it('a 1% error in the candidate fails it (the comparison can fail)', async () => {
    const report = await runSelfTest('cpu', 0.01);
    expect(report.passed).toBe(false);
    expect(report.reason).toMatch(/float32 forward error 1\.00e-2 > 0\.0001/);
  });

  it("where the self-test fails (simulated device), 'auto' runs on the CPU and backends() says why", () => {
    const r = node(`
      import { autoBackend, backends, loadModel, bundledModel } from ${lib};
      const m = await loadModel(bundledModel.path());
      const choice = await autoBackend();
      console.log(JSON.stringify({ backend: m.backend, reason: choice.reason, selfTest: backends()[1].selfTest }));
    `, { SKIPDIT_SIMULATE_CUDA_SELFTEST_FAILURE: '1', SKIPDIT_BACKEND: '' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.backend).toBe('cpu');
    expect(out.reason).toMatch(/^CUDA self-test failed \(simulated\): float32 forward error/);
    expect(out.selfTest).toMatchObject({ passed: false, simulated: true });
    expect(out.selfTest.checks).toHaveLength(6);
  });

  it("without a usable device 'auto' is the CPU with CUDA's reason; SKIPDIT_BACKEND overrides or is refused", () => {
    const r = node(`
      import { autoBackend, loadModel, bundledModel } from ${lib};
      try { console.log(JSON.stringify(await autoBackend())); } catch (e) { console.log(e.name, e.message); }
    `, { SKIPDIT_BACKEND: '' });
    const cuda = backends()[1];
    if (!cuda.available) expect(JSON.parse(r.stdout)).toEqual({ backend: 'cpu', reason: `CUDA unavailable: ${cuda.reason}` });
    const forced = node(`import { autoBackend } from ${lib}; console.log(JSON.stringify(await autoBackend()));`, { SKIPDIT_BACKEND: 'cpu' });
    expect(JSON.parse(forced.stdout)).toEqual({ backend: 'cpu', reason: 'SKIPDIT_BACKEND=cpu' });
    const bad = node(`
      import { loadModel, bundledModel } from ${lib};
      try { await loadModel(bundledModel.path()); } catch (e) { console.log(e.name, e.message); }
    `, { SKIPDIT_BACKEND: 'gpu' });
    expect(bad.stdout).toMatch(/InvalidArgumentError Expected 'cpu', 'cuda' or 'auto' for SKIPDIT_BACKEND but received "gpu"/);
  });

  it('the CLI says it on stderr, in one line, and still generates on the CPU', () => {
    const out = path.join(dir, 'three.png');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(packageRoot(), 'lib', 'cli.ts'), 'generate', '--class', '3', '--steps', '5', '--out', out], {
      cwd: packageRoot(), env: { ...process.env, SKIPDIT_SIMULATE_CUDA_SELFTEST_FAILURE: '1', SKIPDIT_BACKEND: '' }, encoding: 'utf8', timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^skipdit: CUDA self-test failed \(simulated\): .*; running on the CPU$/)]);
    expect(r.stdout).toMatch(/wrote .*three\.png/);
  });

  it('the bundled model is what the self-test runs', () => {
    expect(bundledModel.path()).toMatch(/digits-skipdit\.safetensors$/);
  });
});
