// skipdit/queue on a real redis-server (test/helpers/redis.ts starts one; CI installs it and sets
// SKIPDIT_REQUIRE_REDIS=1 so that a missing server fails instead of skipping). With the bundled digits model:
// 200 jobs over 3 worker processes (each result once, bit-identical to an in-process run), a worker SIGKILLed
// mid-job, a job cancelled mid-run, SIGTERM's requeue, Redis killed and restarted with jobs queued, and invalid
// payloads failed without retries.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, HubNetworkError, HubNotFoundError, InternalError, InvalidArgumentError, OutputError, bundledModel, generate, generateVideo, loadModel, type Model } from '../lib/index.js';
import { writeTinyHunyuanFolder } from '../bench/tiny-hunyuan.js';
import { writeTinyT2VFolder } from '../bench/tiny-t2v.js';
import { generateHunyuan } from '../lib/generate-hunyuan.js';
import {
  ModelCache, cancelGeneration, createGenerationWorker, tensorSha256, enqueueGeneration, followGeneration, isPermanentFailure, openConnection, validateGenerationRequest,
  type GenerationRequest, type GenerationResult,
} from '../lib/worker/index.js';
import { cli } from './helpers/cli.js';
import { redisAvailable, startRedis, startWorker, type RedisServer, type WorkerProcess } from './helpers/redis.js';

const required = process.env.SKIPDIT_REQUIRE_REDIS === '1';
const haveRedis = redisAvailable();
if (required && !haveRedis) throw new Error('SKIPDIT_REQUIRE_REDIS=1 but redis-server is not installed');

describe('generation requests', () => {
  it('validates payloads with typed errors naming the field', () => {
    const ok = validateGenerationRequest({ model: 'bundled', labels: [3], steps: 10, cfgScale: 3, cache: 'dit:2:1', seed: 7, output: 'png' });
    expect(ok).toEqual({ model: 'bundled', labels: [3], steps: 10, cfgScale: 3, cache: 'dit:2:1', seed: 7, output: 'png' });
    const bad: Array<[unknown, RegExp]> = [
      ['text', /request/], [null, /request/], [{ model: 'bundled' }, /request\.output/], [{ model: 'bundled', output: 'jpeg' }, /request\.output/],
      [{ model: '../etc/passwd', output: 'png' }, /request\.model/], [{ model: '/abs', output: 'png' }, /request\.model/], [{ model: '', output: 'png' }, /request\.model/],
      [{ model: 'bundled', output: 'png', steps: 0 }, /request\.steps/], [{ model: 'bundled', output: 'png', steps: 1.5 }, /request\.steps/],
      [{ model: 'bundled', output: 'png', labels: [] }, /request\.labels/], [{ model: 'bundled', output: 'png', labels: [-1] }, /request\.labels\[0\]/],
      [{ model: 'bundled', output: 'png', labels: Array(300).fill(1) }, /request\.labels/], [{ model: 'bundled', output: 'png', cfgScale: 1e39 }, /request\.cfgScale/],
      [{ model: 'bundled', output: 'png', seed: -1 }, /request\.seed/], [{ model: 'bundled', output: 'png', cache: 'dit:x' }, /cache/],
      [{ model: 'bundled', output: 'png', size: [100, 64] }, /request\.size/], [{ model: 'bundled', output: 'png', prompt: 'x'.repeat(5000) }, /request\.prompt/],
      [{ model: 'bundled', output: 'png', labels: [1], prompt: 'a cat' }, /not both/], [{ model: 'bundled', output: 'png', steps: 5, stpes: 5 }, /stpes/],
    ];
    for (const [payload, message] of bad) {
      let err: unknown;
      try {
        validateGenerationRequest(payload);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(payload)).toBeInstanceOf(InvalidArgumentError);
      expect(String((err as Error).message)).toMatch(message);
    }
  });

  it('classifies failures: the request\'s fault fails at once, the rest is retried', () => {
    expect(isPermanentFailure(new InvalidArgumentError('x'))).toBe(true);
    expect(isPermanentFailure(new CheckpointError('x'))).toBe(true);
    expect(isPermanentFailure(new HubNotFoundError('x', 'repo', { repo: 'a/b' }))).toBe(true);
    expect(isPermanentFailure(new HubNetworkError('x', { repo: 'a/b' }))).toBe(false);
    expect(isPermanentFailure(new OutputError('ENOSPC'))).toBe(false);
    expect(isPermanentFailure(new InternalError('out of memory'))).toBe(false);
    expect(isPermanentFailure(new Error('ECONNRESET'))).toBe(false);
  });

  it('ModelCache: LRU by bytes, shared loads, nothing in use disposed', async () => {
    const disposed: string[] = [];
    const item = (key: string, bytes: number) => ({ key, bytes, dispose: () => disposed.push(key) });
    const cache = new ModelCache<ReturnType<typeof item>>(100, (v) => v.bytes);
    let loads = 0;
    const load = (key: string, bytes: number) => async () => (loads++, item(key, bytes));
    const [a1, a2] = await Promise.all([cache.acquire('a', load('a', 60)), cache.acquire('a', load('a', 60))]);
    expect(loads).toBe(1);
    expect(a1.value).toBe(a2.value);
    const b = await cache.acquire('b', load('b', 60)); // 120 > 100, but a and b are both in use
    expect(disposed).toEqual([]);
    a1.release();
    a2.release(); // a is unused and least recent: evicted now
    expect(disposed).toEqual(['a']);
    expect(cache.keys).toEqual(['b']);
    b.release();
    const c = await cache.acquire('c', load('c', 30));
    expect(cache.keys).toEqual(['b', 'c']);
    c.release();
    await expect(cache.acquire('d', async () => { throw new Error('bad file'); })).rejects.toThrow('bad file');
    expect(cache.keys).toEqual(['b', 'c']); // a failed load is not kept
    await cache.close();
    expect(disposed.sort()).toEqual(['a', 'b', 'c']);
  });
});

describe.skipIf(!haveRedis)('BullMQ workers on a real redis-server', () => {
  let redis: RedisServer;
  let model: Model;
  let dir: string;
  const workers: WorkerProcess[] = [];
  const references = new Map<string, string>();

  /** The samples' sha256 of an in-process generate() with the request's settings (cached per request). */
  async function reference(r: GenerationRequest): Promise<string> {
    const key = JSON.stringify(r);
    if (!references.has(key)) {
      const out = path.join(dir, 'ref.safetensors');
      const g = await generate({ model, classes: r.labels, steps: r.steps, sampler: r.sampler, cfg: r.cfgScale, seed: r.seed, format: 'safetensors', out });
      references.set(key, tensorSha256(g.samples));
    }
    return references.get(key)!;
  }

  async function producer(queue: string) {
    const conn = openConnection(redis.url);
    const q = new Queue(queue, { connection: conn.client });
    const events = new QueueEvents(queue, { connection: conn.subscriber() });
    events.setMaxListeners(0);
    await events.waitUntilReady();
    return { q, events, close: async () => { await events.close(); await q.close(); await conn.close(); } };
  }

  /** Starts a worker per entry of `workerArgs` on `queue` and a producer, runs `body`, then stops them all. */
  async function scenario(queue: string, workerArgs: string[][], body: (p: Awaited<ReturnType<typeof producer>>) => Promise<void>): Promise<void> {
    workers.push(...(await Promise.all(workerArgs.map((args) => startWorker(redis.url, queue, args)))));
    const p = await producer(queue);
    try {
      await body(p);
    } finally {
      await p.close();
      await stopWorkers();
    }
  }

  async function stopWorkers(): Promise<void> {
    for (const w of workers.splice(0)) {
      if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
      await w.exited;
    }
  }

  beforeAll(async () => {
    redis = await startRedis();
    model = await loadModel(bundledModel.path());
    dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-queue-'));
  }, 60000);
  afterAll(async () => {
    await stopWorkers();
    await redis?.stop();
    model?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('200 jobs over 3 worker processes: every result exactly once, bit-identical to an in-process run', async () => {
    // one CPU thread each: three processes share the 2 cores (each with every core, their spinning pools collide)
    await scenario('many', [['--threads', '1'], ['--threads', '1'], ['--threads', '1']], async (p) => {
      const requests: GenerationRequest[] = Array.from({ length: 200 }, (_, i) => ({ model: 'bundled', labels: [i % 10], sampler: 'ddim', steps: 8, cfgScale: 3, seed: i, output: 'latents' }));
      const t0 = performance.now();
      const jobs = await Promise.all(requests.map((r) => enqueueGeneration(p.q, r)));
      const results = await Promise.all(jobs.map((j) => followGeneration(j, p.events)));
      const seconds = (performance.now() - t0) / 1000;
      const ids = jobs.map((j) => String(j.id));
      expect(new Set(ids).size).toBe(200);
      for (let i = 0; i < 200; i++) {
        expect(results[i].jobId).toBe(ids[i]);
        expect(results[i].samplesSha256).toBe(await reference(requests[i]));
        // the result's bytes are a safetensors file holding those samples
        expect(createHash('sha256').update(Buffer.from(results[i].bytes!, 'base64')).digest('hex')).toBe(results[i].sha256);
      }
      // each job ran once: one 'completed' across the three workers, and no retry
      const completed = workers.flatMap((w) => w.events.filter((e) => e.type === 'completed').map((e) => e.jobId));
      const counts = new Map<string, number>();
      for (const id of completed) counts.set(id!, (counts.get(id!) ?? 0) + 1);
      expect(completed).toHaveLength(200);
      expect([...counts.values()].every((c) => c === 1)).toBe(true);
      const states = await Promise.all(jobs.map(async (j) => (await p.q.getJob(String(j.id)))!));
      const retries = states.reduce((a, j) => a + (j.attemptsMade - 1), 0);
      expect(retries).toBe(0);
      const perWorker = workers.map((w) => w.events.filter((e) => e.type === 'completed').length);
      console.log(`[queue] 200 jobs over 3 workers in ${seconds.toFixed(2)} s: per worker ${perWorker.join('/')}, lost 0, duplicates ${completed.length - counts.size}, retries ${retries}`);
      expect(perWorker.every((n) => n > 0)).toBe(true);
    });
  }, 240000);

  /** A long job (400 DDPM steps of the digits model, about 2 s) and the worker running it, once it has made `steps` steps. */
  async function longJobRunning(p: Awaited<ReturnType<typeof producer>>, seed: number, steps = 20) {
    const request: GenerationRequest = { model: 'bundled', labels: [seed % 10], sampler: 'ddpm', steps: 400, cfgScale: 3, seed, output: 'latents' };
    const job = await enqueueGeneration(p.q, request);
    let pid = 0;
    const reached = new Promise<void>((resolve) => {
      const onProgress = ({ jobId, data }: { jobId: string; data: any }) => {
        if (jobId === String(job.id) && data.phase === 'sample' && data.completed >= steps) {
          pid = data.pid;
          p.events.off('progress', onProgress);
          resolve();
        }
      };
      p.events.on('progress', onProgress);
    });
    const finished = followGeneration(job, p.events).then((r) => ({ ok: true as const, r }), (e: Error) => ({ ok: false as const, e }));
    await reached;
    return { job, request, finished, worker: workers.find((w) => w.pid === pid)! };
  }

  it('a worker SIGKILLed mid-job: another worker runs the job from the start, same result', async () => {
    const fast = ['--lock-duration', '2000', '--stalled-interval', '1000'];
    await scenario('kill', [fast, fast], async (p) => {
      const { job, request, finished, worker } = await longJobRunning(p, 11);
      expect(worker).toBeDefined();
      worker.proc.kill('SIGKILL');
      const done = await finished;
      expect(done.ok).toBe(true);
      const r = (done as { r: GenerationResult }).r;
      expect(r.worker.pid).not.toBe(worker.pid);
      expect(r.samplesSha256).toBe(await reference(request));
      const other = workers.find((w) => w !== worker)!;
      expect(other.events.filter((e) => e.type === 'active' && e.jobId === String(job.id))).toHaveLength(1);
      console.log(`[queue] SIGKILL at step >= 20 on worker ${worker.pid}: job ${job.id} completed by ${r.worker.pid}, identical samples`);
    });
  }, 120000);

  it('a job cancelled mid-run: its Pipeline aborts within one step, no retry', async () => {
    await scenario('cancel', [[]], async (p) => {
      const { job, finished, worker } = await longJobRunning(p, 12, 10);
      expect(await cancelGeneration(p.q, String(job.id))).toBe('active');
      const done = await finished;
      expect(done.ok).toBe(false);
      expect(String((done as { e: Error }).e.message)).toMatch(/cancelled at step \d+/);
      const e = await worker.waitFor((x) => x.type === 'cancelled' && x.jobId === String(job.id));
      expect((e.step as number) - (e.requestedAt as number)).toBeLessThanOrEqual(1); // the step in flight stops at its next block
      expect(e.step as number).toBeLessThan(400);
      const failed = (await p.q.getJob(String(job.id)))!;
      expect(await failed.getState()).toBe('failed');
      expect(failed.attemptsMade).toBe(1);
      // a job cancelled before it starts is removed
      const queued = await enqueueGeneration(p.q, { model: 'bundled', labels: [1], steps: 1000, sampler: 'ddpm', output: 'latents' }, { delay: 60000 });
      expect(await cancelGeneration(p.q, String(queued.id))).toBe('delayed');
      expect(await p.q.getJob(String(queued.id))).toBeUndefined();
      console.log(`[queue] cancel at step ${e.requestedAt}: stopped at step ${e.step}`);
    });
  }, 120000);

  it('SIGTERM: the worker finishes its step, puts the job back, exits 0; another worker completes it identically', async () => {
    await scenario('term', [[]], async (p) => {
      const { request, finished, worker } = await longJobRunning(p, 13);
      const second = await startWorker(redis.url, 'term');
      workers.push(second);
      worker.proc.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(worker.events.some((e) => e.type === 'requeued')).toBe(true);
      const done = await finished;
      expect(done.ok).toBe(true);
      const r = (done as { r: GenerationResult }).r;
      expect(r.worker.pid).toBe(second.pid);
      expect(r.samplesSha256).toBe(await reference(request));
    });
  }, 120000);

  it('Redis killed and restarted mid-run (AOF): no queued job lost', async () => {
    const out = path.join(dir, 'out');
    // a job whose completion was lost in the outage stalls: a short lock hands it on in seconds, not 60
    workers.push(await startWorker(redis.url, 'restart', ['--output-dir', out, '--lock-duration', '2000', '--stalled-interval', '1000']));
    const conn = openConnection(redis.url);
    const q = new Queue('restart', { connection: conn.client });
    try {
      const requests: GenerationRequest[] = Array.from({ length: 30 }, (_, i) => ({ model: 'bundled', labels: [i % 10], sampler: 'ddim', steps: 20, seed: 100 + i, output: 'png' }));
      const jobs = await Promise.all(requests.map((r) => enqueueGeneration(q, r)));
      await workers[0].waitFor((e) => e.type === 'completed');
      await redis.kill();
      await new Promise((r) => setTimeout(r, 500));
      await redis.start();
      const restarted = Date.now();
      const deadline = Date.now() + 60000;
      let completed = 0;
      while (Date.now() < deadline) {
        completed = await q.getCompletedCount().catch(() => 0);
        if (completed === 30) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(completed).toBe(30);
      expect(await q.getFailedCount()).toBe(0);
      for (const j of jobs) {
        const done = (await q.getJob(String(j.id))) as Job<GenerationRequest, GenerationResult>;
        expect(done.returnvalue.file).toBe(path.join(out, `${j.id}.png`));
        expect(createHash('sha256').update(readFileSync(done.returnvalue.file!)).digest('hex')).toBe(done.returnvalue.sha256);
      }
      const runs = workers[0].events.filter((e) => e.type === 'completed').length;
      console.log(`[queue] Redis SIGKILLed and restarted after the first result: 30/30 completed ${((Date.now() - restarted) / 1000).toFixed(1)} s after the restart, lost 0, runs ${runs} (duplicates ${runs - 30})`);
    } finally {
      await q.close();
      await conn.close();
      await stopWorkers();
    }
  }, 120000);

  it('a transient failure (the result cannot be written) is retried with backoff and then succeeds', async () => {
    const out = path.join(dir, 'retry-out');
    mkdirSync(out, { recursive: true });
    await scenario('retry', [['--output-dir', out]], async (p) => {
      // <jobId>.png is a non-empty folder: the final rename fails with a plain system error (not the request's fault)
      const blocked = path.join(out, '1.png');
      mkdirSync(blocked);
      writeFileSync(path.join(blocked, 'x'), 'x');
      const job = await enqueueGeneration(p.q, { model: 'bundled', labels: [4], steps: 5, output: 'png' }, { backoff: { type: 'fixed', delay: 500 } });
      expect(String(job.id)).toBe('1');
      const failed = await workers[0].waitFor((e) => e.type === 'failed' && e.jobId === '1');
      expect(failed.retry).toBe(true);
      rmSync(blocked, { recursive: true }); // the fault goes away before the retry (500 ms later)
      const r = await followGeneration(job, p.events);
      expect(readFileSync(r.file!).subarray(1, 4).toString()).toBe('PNG');
      expect((await p.q.getJob('1'))!.attemptsMade).toBe(2);
      expect(workers[0].events.filter((e) => e.type === 'active' && e.jobId === '1').map((e) => e.attempt)).toEqual([1, 2]);
    });
  }, 60000);

  // Text models from their folders, on an in-process worker: every part loaded once and kept; the samples and the
  // picture of generateVideo / generateHunyuan with the same settings.
  const textModels = [
    {
      name: 'Latte-1', kind: 'text-to-video', write: writeTinyT2VFolder, keys: ['t2v', 't5', 'vae'], picture: 'gif' as const,
      request: { model: 'Latte-1', prompt: 'Yellow and black tropical fish dart through the sea.', frames: 4, steps: 4, seed: 5, output: 'latents' } as GenerationRequest,
      reference: (dir: string, out: string) => generateVideo({ model: dir, prompts: ['Yellow and black tropical fish dart through the sea.'], frames: 4, steps: 4, seed: 5, out, backend: 'cpu' }),
    },
    {
      name: 'HunyuanDiT-v1.2', kind: 'Hunyuan-DiT', write: writeTinyHunyuanFolder, keys: ['bert', 'hunyuan', 'mt5', 'vae'], picture: 'png' as const,
      request: { model: 'HunyuanDiT-v1.2', prompt: '渔舟唱晚', size: [64, 96], steps: 4, seed: 3, cache: 'hunyuan:2', output: 'latents' } as GenerationRequest,
      reference: (dir: string, out: string) => generateHunyuan({ model: dir, prompts: ['渔舟唱晚'], size: [64, 96], steps: 4, seed: 3, cache: 'hunyuan:2', out, backend: 'cpu' }),
    },
  ];
  it.each(textModels)('$kind from a folder: every part loaded once and kept; the samples and picture of the direct call', async (m) => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'skipdit-queue-text-'));
    m.write(path.join(root, m.name));
    const w = createGenerationWorker({ connection: redis.url, queue: `text-${m.keys[0]}`, models: root, device: 'cpu' });
    const p = await producer(`text-${m.keys[0]}`);
    try {
      const latents = await followGeneration(await enqueueGeneration(p.q, m.request), p.events);
      const picture = await followGeneration(await enqueueGeneration(p.q, { ...m.request, output: m.picture }), p.events);
      const refOut = path.join(root, `ref.${m.picture}`);
      const ref = await m.reference(path.join(root, m.name), refOut);
      const refSha = tensorSha256(ref.samples);
      expect(latents.samplesSha256).toBe(refSha);
      expect(picture.samplesSha256).toBe(refSha);
      expect(Buffer.from(picture.bytes!, 'base64').equals(readFileSync(refOut))).toBe(true);
      expect(w.models.keys.map((k) => k.split(' ')[0]).sort()).toEqual(m.keys); // kept between the two jobs
      if (m.picture === 'gif') {
        const bad = await followGeneration(await enqueueGeneration(p.q, { ...m.request, sampler: 'ddpm' }), p.events).catch((e: Error) => e);
        expect(String(bad)).toMatch(/request\.sampler/);
      }
    } finally {
      await p.close();
      await w.close();
      rmSync(root, { recursive: true, force: true });
    }
  }, 120000);

  it('skipdit enqueue follows a job to its result and writes its bytes; a bad request is a typed error before Redis', async () => {
    await scenario('cli', [[]], async () => {
      const out = path.join(dir, 'cli-latents.safetensors');
      const { stdout } = await cli('enqueue', '--redis', redis.url, '--queue', 'cli', '--class', '7', '--steps', '6', '--sampler', 'ddim', '--seed', '9', '--output', 'latents', '--out', out, '--json');
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as GenerationResult & { roundTripMs: number };
      expect(r.samplesSha256).toBe(await reference({ model: 'bundled', labels: [7], steps: 6, sampler: 'ddim', seed: 9, output: 'latents' }));
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(r.sha256);
      expect(r.worker.pid).toBe(workers[0].pid);
      const bad = await cli('enqueue', '--redis', redis.url, '--queue', 'cli', '--steps', '0').catch((e) => e);
      expect(String(bad.stderr)).toMatch(/InvalidArgumentError: .*request\.steps/);
    });
  }, 60000);

  it('invalid payloads fail at once without retries; enqueueGeneration refuses them before Redis', async () => {
    await scenario('bad', [[]], async (p) => {
      const payloads: Array<[unknown, RegExp]> = [
        [{ model: '../../etc/passwd', output: 'png' }, /request\.model/],
        [{ model: 'bundled', output: 'jpeg' }, /request\.output/],
        [{ model: 'bundled', output: 'png', steps: 0 }, /request\.steps/],
        [{ model: 'not-a-model', output: 'png' }, /request\.model/],
        [{ model: 'bundled', output: 'png', labels: [99] }, /class|label/i],
        ['a string', /request/],
      ];
      for (const [data, message] of payloads) {
        if (typeof data === 'object' && !/99/.test(JSON.stringify(data)) && !/not-a-model/.test(JSON.stringify(data))) {
          await expect(enqueueGeneration(p.q, data as GenerationRequest)).rejects.toBeInstanceOf(InvalidArgumentError);
        }
        // written to Redis by something else: the worker fails it on the first attempt of 3
        const job = await p.q.add('generate', data, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
        const err = await job.waitUntilFinished(p.events).then(() => undefined, (e: Error) => e);
        expect(err, JSON.stringify(data)).toBeInstanceOf(Error);
        expect(err!.message).toMatch(message);
        const after = (await p.q.getJob(String(job.id)))!;
        expect(after.attemptsMade).toBe(1);
        expect(await after.getState()).toBe('failed');
      }
    });
  }, 120000);
});
