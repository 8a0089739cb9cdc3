// The producer side: enqueue a validated request, follow its progress to the result, cancel it.
import type { Job, JobsOptions, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AbortError, InvalidArgumentError } from '../errors.js';
import { cancelKeys } from './connection.js';
import { validateGenerationRequest, type GenerationRequest } from './request.js';
import type { GenerationProgress, GenerationResult } from './worker.js';

/** Transient failures (a worker's out-of-memory, a Redis hiccup, a full disk) are retried: 3 attempts, 1 s, 2 s backoff. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Validates the request (typed errors, nothing enqueued on failure) and adds it as a job named 'generate'. */
export async function enqueueGeneration(queue: Queue, request: GenerationRequest, opts: JobsOptions = {}): Promise<Job<GenerationRequest, GenerationResult>> {
  const valid = validateGenerationRequest(request);
  return (await queue.add('generate', valid, { ...DEFAULT_JOB_OPTIONS, ...opts })) as Job<GenerationRequest, GenerationResult>;
}

export interface FollowOptions {
  onProgress?: (progress: GenerationProgress) => void;
  /** Stops following (the job goes on; cancelGeneration() stops it). */
  signal?: AbortSignal;
}

/**
 * Waits for the job's result, calling onProgress with each progress report (QueueEvents: one connection can follow
 * many jobs). Rejects with the job's failure.
 */
export async function followGeneration(job: Job, events: QueueEvents, o: FollowOptions = {}): Promise<GenerationResult> {
  const jobId = String(job.id);
  const onProgress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
    if (id === jobId && typeof data === 'object' && data !== null) o.onProgress?.(data as GenerationProgress);
  };
  events.on('progress', onProgress);
  let onAbort: (() => void) | undefined;
  try {
    const finished = job.waitUntilFinished(events) as Promise<GenerationResult>;
    if (!o.signal) return await finished;
    if (o.signal.aborted) throw new AbortError('stopped following the job');
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new AbortError('stopped following the job'));
      o.signal!.addEventListener('abort', onAbort, { once: true });
    });
    return await Promise.race([finished, aborted]);
  } finally {
    events.off('progress', onProgress);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Cancels a job: one not yet started is removed; a running one is aborted by its worker within one step (its Pipeline
 * is aborted) and fails with 'cancelled'. A marker (kept a day) stops a worker that picks it up in between.
 * Returns the job's state when the request was made.
 */
export async function cancelGeneration(queue: Queue, jobId: string, opts: { prefix?: string } = {}): Promise<string> {
  if (typeof jobId !== 'string' || jobId.length === 0) throw InvalidArgumentError.expected('jobId', 'a job id', jobId);
  const job = await queue.getJob(jobId);
  if (!job) throw InvalidArgumentError.expected('jobId', `a job of queue '${queue.name}'`, jobId);
  const state = await job.getState();
  if (state === 'completed' || state === 'failed') return state;
  const keys = cancelKeys(queue.name, opts.prefix ?? queue.opts.prefix);
  // BullMQ's client forwards ioredis's commands (its proxy of the ioredis client the queue was given)
  const client = (await queue.getBackend().client) as unknown as Redis;
  await client.set(keys.marker(jobId), '1', 'EX', 24 * 3600);
  if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
    try {
      await job.remove();
      return state;
    } catch {
      // it became active meanwhile: abort it below
    }
  }
  await client.publish(keys.channel, jobId);
  return state;
}
