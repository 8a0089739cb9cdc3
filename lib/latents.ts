// Latents: a sampler state held in a model's backend memory (device memory on CUDA). Pipeline keeps its latents
// here and advances them with model.sampleStep(), so on a GPU they stay on the device between steps and only
// travel when read or replaced.
import type { NativeLatents } from '../binding.js';
import { DisposedError, InvalidArgumentError, fromNativeError } from './errors.js';
import { checkTensor, shapeString, type Tensor } from './tensor.js';

export class Latents {
  /** The shape of the state (the official layout: (B, C, H, W) or (B, F, C, H, W)). */
  readonly shape: readonly number[];
  /** @internal */
  readonly owner: object;
  #native: NativeLatents | undefined;

  /** @internal Use model.createLatents(). */
  constructor(native: NativeLatents, shape: readonly number[], owner: object) {
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

  /** A host copy of the values (a download on CUDA; waits for a step of the same model in flight). */
  read(): Tensor {
    try {
      return { data: this.native.read(), shape: [...this.shape] };
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Replaces the values (same shape). */
  write(value: Tensor): void {
    const t = checkTensor(value, 'latents');
    if (t.shape.length !== this.shape.length || t.shape.some((d, i) => d !== this.shape[i])) {
      throw InvalidArgumentError.expected('latents.shape', shapeString(this.shape), t.shape);
    }
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

  [Symbol.dispose](): void {
    this.dispose();
  }
}
