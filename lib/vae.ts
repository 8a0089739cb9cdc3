// The Stable Diffusion VAE decoder (diffusers AutoencoderKL), native; TypeScript reads configs and folders.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { NativeVae, NativeVaeConfig } from '../binding.js';
import { checkWeightsFile } from './checkpoint.js';
import { CheckpointError, DisposedError, InvalidArgumentError, fromNativeError } from './errors.js';
import { native } from './native.js';
import { checkTensor, type Tensor } from './tensor.js';
import { chooseBackend, type BackendName, type ModelDType } from './model.js';
import { computeLane } from './queue.js';
import { checkSignal, withAbortFlag } from './abort.js';
import { checkOnProgress, decodeEvent, loadEvent, withProgress, type DecodeProgress, type LoadProgress } from './progress.js';

/** The decoder fields of a diffusers AutoencoderKL config.json, and the latent scaling factor. */
export interface VaeConfig extends NativeVaeConfig {
  scaling_factor: number;
}

/** sd-vae-ft-ema / sd-vae-ft-mse (what DiT and Latte decode with). */
export const sdVaeConfig: VaeConfig = {
  latent_channels: 4, out_channels: 3, block_out_channels: [128, 256, 512, 512], layers_per_block: 2, norm_num_groups: 32,
  mid_block_add_attention: true, scaling_factor: 0.18215,
};

const weightFiles = ['diffusion_pytorch_model.safetensors', 'model.safetensors', 'diffusion_pytorch_model.bin', 'vae.safetensors', 'vae.pt'];

/**
 * Loads a VAE decoder from a diffusers folder (config.json + diffusion_pytorch_model.safetensors or .bin) or a
 * single weights file (safetensors or .pt, in current diffusers, legacy diffusers or original LDM names; the
 * SD VAE config unless `config` says otherwise).
 */
export interface LoadVaeOptions {
  config?: Partial<VaeConfig>;
  /** Default 'cpu' (the decoder is cheap next to the sampler on a CPU); 'auto' / 'cuda' as for loadModel. */
  backend?: 'auto' | 'cpu' | 'cuda';
  /**
   * The precision of the convolution and projection weights: 'float32' (default), or on CUDA 'bfloat16' /
   * 'float16' (tensor-core convolutions: activations rounded to that type as they are read, fp32 accumulation;
   * group norms, attention and the rest stay float32).
   */
  dtype?: ModelDType;
  /** Stops the load between tensors (AbortError). */
  signal?: AbortSignal;
  /** Tensors bound so far, as loadModel's onProgress: `{ phase: 'load', completed, total, unit: 'tensors' }`. */
  onProgress?: (progress: LoadProgress) => void;
}

export async function loadVae(pathOrDir: string, options: LoadVaeOptions = {}): Promise<Vae> {
  if (typeof pathOrDir !== 'string' || !existsSync(pathOrDir)) throw new CheckpointError(`Cannot open '${pathOrDir}': no such file or folder`);
  const onProgress = checkOnProgress<LoadProgress>(options.onProgress);
  let file = pathOrDir;
  let fileConfig: Partial<VaeConfig> = {};
  if (statSync(pathOrDir).isDirectory()) {
    const configPath = path.join(pathOrDir, 'config.json');
    if (existsSync(configPath)) {
      checkWeightsFile(configPath); // reading a FIFO would block the JS thread
      try {
        fileConfig = JSON.parse(readFileSync(configPath, 'utf8')) as Partial<VaeConfig>;
      } catch (err) {
        throw new CheckpointError(`'${configPath}' is not valid JSON`, { cause: err });
      }
    }
    const found = weightFiles.map((f) => path.join(pathOrDir, f)).find((f) => existsSync(f));
    if (!found) throw new CheckpointError(`'${pathOrDir}' holds none of ${weightFiles.join(', ')}`);
    file = found;
  }
  checkWeightsFile(file); // a FIFO, device or folder named like weights: say so instead of opening it
  const config = normalizeVaeConfig({ ...sdVaeConfig, ...pick(fileConfig), ...pick(options.config ?? {}) });
  // Default cpu (the decoder is cheap next to the sampler); 'auto' / 'cuda' as for loadModel.
  const backend = await chooseBackend(options.backend ?? 'cpu');
  const dtype = options.dtype ?? 'float32';
  if (!['float32', 'bfloat16', 'float16'].includes(dtype) || (backend === 'cpu' && dtype !== 'float32')) {
    throw InvalidArgumentError.expected('options.dtype', backend === 'cpu' ? "'float32' on the cpu backend" : "'float32', 'bfloat16' or 'float16'", options.dtype);
  }
  try {
    const signal = checkSignal(options.signal);
    const handle = await withProgress(onProgress, loadEvent,
      (progress) => withAbortFlag(signal, (abort) => native().loadVae(file, config, backend, dtype, { abort, onProgress: progress })));
    return new Vae(handle, config, file, dtype, backend);
  } catch (err) {
    throw fromNativeError(err);
  }
}

function pick(c: Partial<VaeConfig> & Record<string, unknown>): Partial<VaeConfig> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(sdVaeConfig)) if (c[key] !== undefined) out[key] = c[key];
  return out as Partial<VaeConfig>;
}

export function normalizeVaeConfig(c: VaeConfig): VaeConfig {
  for (const key of ['latent_channels', 'out_channels', 'layers_per_block', 'norm_num_groups'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw InvalidArgumentError.expected(`vae config.${key}`, 'a positive integer', c[key]);
  }
  if (!Array.isArray(c.block_out_channels) || c.block_out_channels.length < 1 || c.block_out_channels.some((v) => !Number.isInteger(v) || v < 1 || v % c.norm_num_groups !== 0)) {
    throw InvalidArgumentError.expected('vae config.block_out_channels', `channel counts that are multiples of norm_num_groups ${c.norm_num_groups}`, c.block_out_channels);
  }
  if (typeof c.scaling_factor !== 'number' || !(c.scaling_factor > 0)) throw InvalidArgumentError.expected('vae config.scaling_factor', 'a positive number', c.scaling_factor);
  return c;
}

export interface DecodeOptions {
  /** Images decoded at a time (default 1: the memory of one image). */
  chunk?: number;
  /** Also return intermediate tensors. */
  taps?: boolean;
  /** Stops the decode between up blocks and between chunks (AbortError). */
  signal?: AbortSignal;
  /**
   * `{ phase: 'decode', completed, total, unit: 'blocks' }`: per chunk the mid block, then each up block (the last
   * one with the output convolution), so total = chunks x (up blocks + 1); at most every 50 ms, and always with
   * completed === total before the decode resolves. What it throws is reported as a process warning and ignored.
   */
  onProgress?: (progress: DecodeProgress) => void;
}

export class Vae {
  readonly config: VaeConfig;
  readonly file: string;
  /** The precision of the convolution and projection weights. */
  readonly dtype: ModelDType;
  readonly backend: BackendName;
  #native: NativeVae | undefined;

  /** @internal Use loadVae(). */
  constructor(handle: NativeVae, config: VaeConfig, file: string, dtype: ModelDType = 'float32', backend: BackendName = 'cpu') {
    this.#native = handle;
    this.dtype = dtype;
    this.backend = backend;
    this.config = Object.freeze({ ...config, block_out_channels: [...config.block_out_channels] }) as VaeConfig;
    this.file = file;
  }

  /** Which key layout the weights used: 'diffusers', 'legacy diffusers' or 'LDM'. */
  get layout(): string {
    return this.#live().info().layout;
  }

  /**
   * Decodes sampler latents (B, C, h, w) the official way: z = latents / scaling_factor (a float32 division), then
   * vae.decode(z).sample: images (B, out_channels, h * 2^(n-1), w * 2^(n-1)), nominally [-1, 1], not clamped.
   * `chunk` images are decoded at a time (default 1: the memory of one image).
   */
  async decode(latents: Tensor, options: DecodeOptions = {}): Promise<Tensor & { taps?: Record<string, Tensor> }> {
    const t = checkTensor(latents, 'latents');
    const s = Math.fround(this.config.scaling_factor);
    const z = new Float32Array(t.data.length);
    for (let i = 0; i < z.length; i++) z[i] = t.data[i] / s; // float32 / float32, rounded once into z
    return this.decodeScaled({ data: z, shape: t.shape }, options);
  }

  /** vae.decode(z).sample for z already divided by the scaling factor. */
  async decodeScaled(z: Tensor, options: DecodeOptions = {}): Promise<Tensor & { taps?: Record<string, Tensor> }> {
    const handle = this.#live();
    const t = checkTensor(z, 'z');
    if (t.shape.length !== 4 || t.shape[1] !== this.config.latent_channels || t.shape[0] < 1) {
      throw InvalidArgumentError.expected('z.shape', `(B, ${this.config.latent_channels}, h, w)`, t.shape);
    }
    const chunk = options.chunk ?? 1;
    if (!Number.isInteger(chunk) || chunk < 1) throw InvalidArgumentError.expected('chunk', 'a positive integer', chunk);
    const signal = checkSignal(options.signal);
    const onProgress = checkOnProgress<DecodeProgress>(options.onProgress);
    try {
      // On the backend's compute lane with the models: a queued decode holds no libuv pool thread.
      const r = await computeLane(this.backend).run(() => withProgress(onProgress, decodeEvent, (progress) => withAbortFlag(signal,
        (abort) => handle.decode(t.data, t.shape, { chunk, taps: options.taps === true, abort, onProgress: progress }))), signal);
      return r.taps ? { data: r.data, shape: r.shape, taps: r.taps } : { data: r.data, shape: r.shape };
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(): NativeVae {
    if (!this.#native) throw new DisposedError('The VAE');
    return this.#native;
  }
}
