// Latents: a sampler state held in a model's backend memory (device memory on CUDA). Pipeline keeps its latents
// here and advances them with model.sampleStep(), so on a GPU they stay on the device between steps and only
// travel when read or replaced.
import type { NativeLatents } from '../binding.js';
import { checkSignal } from './abort.js';
import { DisposedError, InvalidArgumentError, fromNativeError } from './errors.js';
import { checkTensor, shapeString, type Tensor } from './tensor.js';

/** What Latents needs of its model (lib/model.ts). */
interface LatentsOwner {
  readonly runningCalls: number;
  latentsCall<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export class Latents {
  /** The shape of the state (the official layout: (B, C, H, W) or (B, F, C, H, W)). */
  readonly shape: readonly number[];
  /** @internal */
  readonly owner: LatentsOwner;
  #native: NativeLatents | undefined;

  /** @internal Use model.createLatents(). */
  constructor(native: NativeLatents, shape: readonly number[], owner: LatentsOwner) {
    this.#native = native;
    this.shape = Object.freeze([...shape]);
    this.owner = owner;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** @internal */
  get native(): NativeLatents {
    if (!this.#native) throw new DisposedError('The latents object');
    return this.#native;
  }

  /**
   * A host copy of the values (a download on CUDA), now. Refused while a call of the model is running (it would
   * block the event loop until the call ends): use readAsync() then.
   */
  read(): Tensor {
    this.#checkIdle('read');
    try {
      return { data: this.native.read(), shape: [...this.shape] };
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** read() as a call of the model: after the calls queued before it, on a pool thread. */
  async readAsync(options: { signal?: AbortSignal } = {}): Promise<Tensor> {
    const signal = checkCallOptions(options);
    void this.native; // DisposedError now rather than after the wait
    try {
      return { data: await this.owner.latentsCall(() => this.native.readAsync(), signal), shape: [...this.shape] };
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Replaces the values (same shape), now. Refused while a call of the model is running: use writeAsync() then. */
  write(value: Tensor): void {
    const t = this.#checkValue(value);
    this.#checkIdle('write');
    try {
      this.native.write(t.data);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /**
   * write() as a call of the model: `value` is copied now and written after the calls queued before it, on a
   * pool thread. `signal` rejects with AbortError while it waits (the values are then unchanged).
   */
  async writeAsync(value: Tensor, options: { signal?: AbortSignal } = {}): Promise<void> {
    const t = this.#checkValue(value);
    const signal = checkCallOptions(options);
    void this.native; // DisposedError now rather than after the wait
    const data = t.data.slice();
    try {
      await this.owner.latentsCall(() => this.native.writeAsync(data), signal);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Releases the memory now (or when a step in flight finishes). Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  #checkValue(value: Tensor): Tensor {
    const t = checkTensor(value, 'latents');
    if (t.shape.length !== this.shape.length || t.shape.some((d, i) => d !== this.shape[i])) {
      throw InvalidArgumentError.expected('latents.shape', shapeString(this.shape), t.shape);
    }
    return t;
  }

  // A synchronous copy must not wait for the model's lock on the JS thread (a whole step). Every call that takes
  // the lock on a worker runs through the model's compute lane and counts in runningCalls until it settles, so
  // this refusal covers them all; the native side also only try-locks, and fails the same way if it is held.
  #checkIdle(what: string): void {
    if (this.owner.runningCalls > 0) {
      throw new InvalidArgumentError(`Cannot ${what} the latents while a call of their model is running (it would block the event loop): await it, or use ${what}Async()`);
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function checkCallOptions(options: { signal?: AbortSignal }): AbortSignal | undefined {
  if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
  return checkSignal(options.signal);
}
