// Native compute jobs wait for their turn here, in JS, instead of on a libuv pool thread.
//
// A forward queued behind another used to take a pool thread and block it on the model's mutex: eight queued
// forwards starved the process's own fs, DNS, zlib and crypto work (4 pool threads by default). Now a job is
// handed to the pool only when it can run. One lane per backend: the CPU kernels share one thread pool that
// runs one parallel loop at a time, and the CUDA models share device 0, so running two jobs of one backend at
// once would not be faster, only hold one more pool thread waiting.
import { AbortError } from './errors.js';

export class ComputeLane {
  #busy = false;
  readonly #waiting: Array<() => void> = [];

  /** Jobs waiting for their turn (not counting the one running). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `job` after every job queued before it has settled (first in, first out: the order of the calls is the
   * order of the Skip-Cache steps). An abort while waiting rejects at once with AbortError and the job never runs.
   */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
    if (this.#busy) await this.#turn(signal);
    else this.#busy = true;
    try {
      return await job();
    } finally {
      this.#next();
    }
  }

  #turn(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#waiting.splice(this.#waiting.indexOf(wake), 1);
        reject(new AbortError(undefined, { cause: signal!.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(wake);
    });
  }

  /** Hands the lane to the next waiting job (it stays busy), or frees it. */
  #next(): void {
    const wake = this.#waiting.shift();
    if (wake) wake();
    else this.#busy = false;
  }
}

const lanes = new Map<string, ComputeLane>();

/** The lane of a backend ('cpu', 'cuda'): models and VAEs on it take turns. */
export function computeLane(backend: string): ComputeLane {
  let lane = lanes.get(backend);
  if (!lane) lanes.set(backend, (lane = new ComputeLane()));
  return lane;
}
