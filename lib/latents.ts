// Latents: a sampler state held in a model's backend memory (device memory on CUDA). Pipeline keeps its latents
// here and advances them with model.sampleStep(), so on a GPU they stay on the device between steps and only
// travel when read or replaced.
import type { NativeLatents } from '../binding.js';
import { DisposedError, InvalidArgumentError, fromNativeError } from './errors.js';
import { checkTensor, shapeString, type Tensor } from './tensor.js';

/** What Latents needs of its model (lib/model.ts). */
interface LatentsOwner {
  readonly runningCalls: number;
  readLatentsQueued(latents: Latents): Promise<Tensor>;
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
   * A host copy of the values (a download on CUDA). Refused while a call of the model is running (it would block
   * the event loop until the call ends): use readAsync() then.
   */
  read(): Tensor {
    this.#checkIdle('read');
    try {
      return { data: this.native.read(), shape: [...this.shape] };
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** read() after the model's calls queued before it, without blocking the event loop. */
  readAsync(): Promise<Tensor> {
    return this.owner.readLatentsQueued(this);
  }

  /** Replaces the values (same shape). Refused while a call of the model is running. */
  write(value: Tensor): void {
    const t = checkTensor(value, 'latents');
    if (t.shape.length !== this.shape.length || t.shape.some((d, i) => d !== this.shape[i])) {
      throw InvalidArgumentError.expected('latents.shape', shapeString(this.shape), t.shape);
    }
    this.#checkIdle('write');
    try {
      this.native.write(t.data);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Releases the memory now (or when a step in flight finishes). Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  // The native side would wait for the model's lock on the JS thread, blocking the event loop for a whole step.
  #checkIdle(what: string): void {
    if (this.owner.runningCalls > 0) {
      throw new InvalidArgumentError(`Cannot ${what} the latents while a call of their model is running (it would block the event loop): await it, or use readAsync()`);
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
