// Progress of the long native calls (loads, VAE decodes) as events for a caller's onProgress. The worker posts
// (done, total) through a thread-safe function, at most every 50 ms plus the last report (done === total), which
// reaches JS before the call settles (bindings/progress.h). Here the caller's function is kept from breaking
// anything: what it throws (or an async one rejects with) is reported as a process warning and the call goes on.
import { InvalidArgumentError } from './errors.js';

/** Loading weights: `completed` of `total` tensors bound (loadModel, loadVae). */
export interface LoadProgress {
  phase: 'load';
  completed: number;
  total: number;
  unit: 'tensors';
}

/**
 * A VAE decode: `completed` of `total` decoder blocks, per chunk of images the mid block, then each up block
 * (the last one with the output convolution), so total = chunks x (up blocks + 1).
 */
export interface DecodeProgress {
  phase: 'decode';
  completed: number;
  total: number;
  unit: 'blocks';
}

export const loadEvent = (completed: number, total: number): LoadProgress => ({ phase: 'load', completed, total, unit: 'tensors' });
export const decodeEvent = (completed: number, total: number): DecodeProgress => ({ phase: 'decode', completed, total, unit: 'blocks' });

/** `value` as an optional progress callback, or a typed error naming `name`. */
export function checkOnProgress<E>(value: unknown, name = 'options.onProgress'): ((event: E) => void) | undefined {
  if (value !== undefined && typeof value !== 'function') throw InvalidArgumentError.expected(name, 'a function', value);
  return value as ((event: E) => void) | undefined;
}

/**
 * Runs `call` with a native progress callback that turns (done, total) into `event(done, total)` for `onProgress`
 * (none without one). Events arrive with increasing `completed`; none after the call has settled.
 */
export async function withProgress<T, E>(
  onProgress: ((event: E) => void) | undefined,
  event: (completed: number, total: number) => E,
  call: (callback: ((done: number, total: number) => void) | undefined) => Promise<T>,
): Promise<T> {
  if (!onProgress) return call(undefined);
  let open = true;
  let last = 0;
  let warned = false;
  const report = (err: unknown) => {
    if (warned) return;
    warned = true; // once per call: a callback that always throws would flood stderr
    const message = err instanceof Error ? err.message : String(err);
    process.emitWarning(`the onProgress callback failed (ignored; the call goes on): ${message}`, { code: 'SKIPDIT_PROGRESS_CALLBACK' });
  };
  const callback = (done: number, total: number) => {
    if (!open || done <= last) return;
    last = done;
    try {
      const r = onProgress(event(done, total)) as unknown;
      if (r instanceof Promise) r.catch(report); // an async callback's rejection must not be unhandled (it would end the process)
    } catch (err) {
      report(err);
    }
  };
  try {
    return await call(callback);
  } finally {
    open = false; // reports still queued when the call fails (an abort, a bad file) are dropped
  }
}
