// `npm run bench:queue`: the BullMQ queue's overhead per job and the throughput with 1, 2 and 3 worker processes,
// against in-process generate() calls, on a redis-server started here (test/helpers/redis.ts). The bundled digits
// model: DDIM 50 steps, CFG 3, one picture per job.
//
// Overhead: sequential 1-step jobs on one worker; "enqueue -> start" is the worker's 'active' event time minus the
// time before queue.add(); "finish -> seen" is the producer's result time minus the worker's 'completed' time (one
// machine, one clock).
import { Queue, QueueEvents } from 'bullmq';
import { bundledModel, generate, loadModel } from '../lib/index.js';
import { enqueueGeneration, followGeneration, openConnection, type GenerationRequest } from '../lib/worker/index.js';
import { startRedis, startWorker, type WorkerProcess } from '../test/helpers/redis.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const JOBS = Number(process.env.JOBS ?? 60);
const quantile = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];

const redis = await startRedis();
const conn = openConnection(redis.url);
const dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-bench-queue-'));
const report: Record<string, unknown> = { jobs: JOBS, cpus: os.cpus().length };
try {
  // ---- overhead: sequential tiny jobs on one worker
  {
    const w = await startWorker(redis.url, 'overhead');
    const q = new Queue('overhead', { connection: conn.client });
    const events = new QueueEvents('overhead', { connection: conn.subscriber() });
    await events.waitUntilReady();
    const toStart: number[] = [], toSeen: number[] = [], roundTrip: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t0 = Date.now();
      const job = await enqueueGeneration(q, { model: 'bundled', labels: [i % 10], steps: 1, sampler: 'ddim', seed: i, output: 'latents' });
      await followGeneration(job, events);
      const seen = Date.now();
      const active = await w.waitFor((e) => e.type === 'active' && e.jobId === String(job.id));
      const done = await w.waitFor((e) => e.type === 'completed' && e.jobId === String(job.id));
      if (i < 5) continue; // warm-up: model load, script loading
      toStart.push((active.time as number) - t0);
      toSeen.push(seen - (done.time as number));
      roundTrip.push(seen - t0);
    }
    report.overheadMs = {
      enqueueToStart: { median: quantile(toStart, 0.5), p90: quantile(toStart, 0.9) },
      finishToSeen: { median: quantile(toSeen, 0.5), p90: quantile(toSeen, 0.9) },
      roundTrip1Step: { median: quantile(roundTrip, 0.5), p90: quantile(roundTrip, 0.9) },
    };
    await events.close();
    await q.close();
    w.proc.kill('SIGTERM');
    await w.exited;
  }

  // ---- in-process baseline: the same jobs, one after another in this process
  const request = (i: number): GenerationRequest => ({ model: 'bundled', labels: [i % 10], sampler: 'ddim', steps: 50, cfgScale: 3, seed: i, output: 'png' });
  {
    const model = await loadModel(bundledModel.path());
    const t0 = performance.now();
    for (let i = 0; i < JOBS; i++) {
      const r = request(i);
      await generate({ model, classes: r.labels, steps: r.steps, sampler: r.sampler, cfg: r.cfgScale, seed: r.seed, out: path.join(dir, 'x.png') });
    }
    report.inProcess = { jobsPerSecond: JOBS / ((performance.now() - t0) / 1000) };
    model.dispose();
  }

  // ---- throughput with 1, 2, 3 workers: each with every core (the default), then with its share of the cores
  const throughput: Record<string, number> = {};
  const cores = os.cpus().length;
  for (const [n, split] of [[1, false], [2, false], [3, false], [2, true], [3, true]] as const) {
    const queue = `throughput-${n}-${split}`;
    const threads = split ? ['--threads', String(Math.max(1, Math.floor(cores / n)))] : [];
    const workers: WorkerProcess[] = await Promise.all(Array.from({ length: n }, () => startWorker(redis.url, queue, threads)));
    const q = new Queue(queue, { connection: conn.client });
    q.setMaxListeners(0);
    const events = new QueueEvents(queue, { connection: conn.subscriber() });
    events.setMaxListeners(0);
    await events.waitUntilReady();
    // warm each worker's model cache
    await Promise.all(Array.from({ length: n }, async (_, i) => followGeneration(await enqueueGeneration(q, { ...request(i), steps: 1 }), events)));
    const t0 = performance.now();
    const jobs = await Promise.all(Array.from({ length: JOBS }, (_, i) => enqueueGeneration(q, request(i))));
    await Promise.all(jobs.map((j) => followGeneration(j, events)));
    throughput[`${n} worker${n > 1 ? 's' : ''}${split ? `, ${threads[1]} thread${threads[1] === '1' ? '' : 's'} each` : `, ${cores} threads each`}`] = JOBS / ((performance.now() - t0) / 1000);
    await events.close();
    await q.close();
    for (const w of workers) w.proc.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  }
  report.workersJobsPerSecond = throughput;
  console.log(JSON.stringify(report, null, 2));
} finally {
  await conn.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
