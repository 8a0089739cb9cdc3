// The Stable Diffusion VAE decoder (diffusers AutoencoderKL) and the Stable Video Diffusion temporal decoder
// (diffusers AutoencoderKLTemporalDecoder), native; TypeScript reads configs and folders.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { NativeVae, NativeVaeConfig } from '../binding.js';
import { checkWeightsFile } from './checkpoint.js';
import { CheckpointError, DisposedError, InvalidArgumentError, fromNativeError } from './errors.js';
import { native } from './native.js';
import { checkTensor, type Tensor } from './tensor.js';
import { mapByte } from './image.js';
import { chooseBackend, type BackendName, type ModelDType } from './model.js';
import { computeLane } from './queue.js';
import { checkSignal, withAbortFlag } from './abort.js';
import { checkOnProgress, decodeEvent, loadEvent, withProgress, type DecodeProgress, type LoadProgress } from './progress.js';
import { localPath, type HubLoadOptions } from './hub/uri.js';

/** The decoder fields of a diffusers AutoencoderKL config.json, and the latent scaling factor. */
export interface VaeConfig extends NativeVaeConfig {
  scaling_factor: number;
}

/** sd-vae-ft-ema / sd-vae-ft-mse (what DiT and Latte decode with). */
export const sdVaeConfig: VaeConfig = {
  latent_channels: 4, out_channels: 3, block_out_channels: [128, 256, 512, 512], layers_per_block: 2, norm_num_groups: 32,
  mid_block_add_attention: true, scaling_factor: 0.18215, temporal: false,
};

/**
 * The Stable Video Diffusion temporal decoder (diffusers AutoencoderKLTemporalDecoder; the `vae_temporal_decoder`
 * folder of Latte-0 / Latte-1 that Skip-DiT's text-to-video sampling decodes with).
 */
export const svdTemporalVaeConfig: VaeConfig = { ...sdVaeConfig, temporal: true };

/** The `_class_name` of a diffusers config.json that loads as the temporal decoder. */
export const TEMPORAL_VAE_CLASS = 'AutoencoderKLTemporalDecoder';

const weightFiles = ['diffusion_pytorch_model.safetensors', 'model.safetensors', 'diffusion_pytorch_model.bin', 'vae.safetensors', 'vae.pt'];

/**
 * Loads a VAE decoder from a diffusers folder (config.json + diffusion_pytorch_model.safetensors or .bin) or a
 * single weights file (safetensors or .pt, in current diffusers, legacy diffusers or original LDM names; the
 * SD VAE config unless `config` says otherwise). A folder whose config.json has `_class_name:
 * "AutoencoderKLTemporalDecoder"` (or `config.temporal: true`) loads the SVD temporal decoder (current diffusers
 * names only; its `encoder.*` and `quant_conv.*` are ignored): decode it with `decodeVideo()`.
 */
export interface LoadVaeOptions extends HubLoadOptions {
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

/** Loads a VAE from a diffusers folder (config.json + weights) or a weights file; an hf:// path downloads it first. */
export async function loadVae(pathOrDir: string, options: LoadVaeOptions = {}): Promise<Vae> {
  if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
  if (typeof pathOrDir === 'string') pathOrDir = await localPath(pathOrDir, { weights: true }, options);
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
  const picked = { ...sdVaeConfig, ...pick(fileConfig), ...pick(options.config ?? {}) };
  if ((fileConfig as Record<string, unknown>)._class_name === TEMPORAL_VAE_CLASS) picked.temporal = options.config?.temporal ?? true;
  if (picked.temporal !== undefined && typeof picked.temporal !== 'boolean') throw InvalidArgumentError.expected('vae config.temporal', 'a boolean', picked.temporal);
  // AutoencoderKLTemporalDecoder has no norm_num_groups (32 everywhere) and always the mid-block attention.
  if (picked.temporal) Object.assign(picked, { norm_num_groups: 32, mid_block_add_attention: true });
  const config = normalizeVaeConfig(picked);
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
  /**
   * Images decoded at a time (default 1: the memory of one image). Temporal decoder: rows per decode call (default:
   * all of them in one call), a multiple of numFrames.
   */
  chunk?: number;
  /**
   * Temporal decoder only: vae.decode(z, num_frames)'s num_frames, the frames of each video inside a call (default:
   * the call's rows, one video). The frames of one video are normalised and convolved together.
   */
  numFrames?: number;
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

  /** Whether this is the SVD temporal decoder (AutoencoderKLTemporalDecoder): decode videos with decodeVideo(). */
  get temporal(): boolean {
    return this.config.temporal === true;
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
    if (this.temporal) throw new InvalidArgumentError('Expected an AutoencoderKL for vae.decode(latents) but received the temporal decoder: use vae.decodeVideo(latents)');
    const s = Math.fround(this.config.scaling_factor);
    const z = new Float32Array(t.data.length);
    for (let i = 0; i < z.length; i++) z[i] = t.data[i] / s; // float32 / float32, rounded once into z
    return this.decodeScaled({ data: z, shape: t.shape }, options);
  }

  /**
   * vae.decode(z).sample for z already divided by the scaling factor. Temporal decoder: z (N, C, h, w) rows of videos,
   * decoded as `vae.decode(z_chunk, num_frames=numFrames)` per chunk of `chunk` rows (default: one call of all rows,
   * each call one video unless numFrames says otherwise); taps add mid_resnet0_spatial, mid_resnet0_temporal (per-frame
   * layout) and conv_out.
   */
  async decodeScaled(z: Tensor, options: DecodeOptions = {}): Promise<Tensor & { taps?: Record<string, Tensor> }> {
    const handle = this.#live();
    const t = checkTensor(z, 'z');
    if (t.shape.length !== 4 || t.shape[1] !== this.config.latent_channels || t.shape[0] < 1) {
      throw InvalidArgumentError.expected('z.shape', `(B, ${this.config.latent_channels}, h, w)`, t.shape);
    }
    const chunk = options.chunk ?? (this.temporal ? t.shape[0] : 1);
    if (!Number.isInteger(chunk) || chunk < 1) throw InvalidArgumentError.expected('chunk', 'a positive integer', chunk);
    let frames = 0; // temporal: 0 = each call one video of its rows
    if (this.temporal) {
      frames = options.numFrames ?? 0;
      if (options.numFrames !== undefined && (!Number.isInteger(frames) || frames < 1 || t.shape[0] % frames !== 0 || Math.min(chunk, t.shape[0]) % frames !== 0)) {
        throw InvalidArgumentError.expected('numFrames', `a positive integer dividing the rows ${t.shape[0]} and the chunk ${chunk}`, options.numFrames);
      }
      checkFinite(t, 'z');
    } else if (options.numFrames !== undefined) {
      throw InvalidArgumentError.expected('numFrames', 'undefined (an AutoencoderKL has no frames)', options.numFrames);
    }
    const signal = checkSignal(options.signal);
    const onProgress = checkOnProgress<DecodeProgress>(options.onProgress);
    try {
      // On the backend's compute lane with the models: a queued decode holds no libuv pool thread.
      const r = await computeLane(this.backend).run(() => withProgress(onProgress, decodeEvent, (progress) => withAbortFlag(signal,
        (abort) => handle.decode(t.data, t.shape, { chunk, frames, taps: options.taps === true, abort, onProgress: progress }))), signal);
      return r.taps ? { data: r.data, shape: r.shape, taps: r.taps } : { data: r.data, shape: r.shape };
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /**
   * The temporal decoder's videos, as Skip-DiT's `LattePipeline.decode_latents_with_temporal_decoder` (text-to-video)
   * computes them before its uint8 conversion (see videoToUint8): latents (B, C, F, h, w) as the sampler leaves them
   * -> frames (B, F, out_channels, h * 2^(n-1), w * 2^(n-1)) float32 in the decoder's range (not clamped).
   *
   * Exactly the official steps: `z = latents * float32(1 / scaling_factor)` (a multiplication by the rounded
   * reciprocal, which differs from a division by 1 ulp in some elements), 'b c f h w -> (b f) c h w', then chunks of
   * `chunkFrames` consecutive rows (default 14, the pipeline's decode_chunk_size), each decoded as ONE video of
   * len(chunk) frames: its temporal GroupNorms and convolutions see only the chunk's frames (zero padding at its
   * ends), and with B > 1 a chunk may hold the end of one video and the start of the next, which are then
   * normalised together and convolved across the boundary, as in the official code.
   *
   * F = 1: the official pipeline takes another path (`decode_latents_image`), which calls `vae.decode(latents)`
   * without num_frames and so raises a TypeError with this decoder; skipdit instead decodes each frame as a
   * 1-frame chunk (a video of one frame).
   */
  async decodeVideo(latents: Tensor, options: DecodeVideoOptions = {}): Promise<Tensor> {
    this.#live();
    if (!this.temporal) throw new InvalidArgumentError('Expected the temporal decoder (AutoencoderKLTemporalDecoder) for vae.decodeVideo() but received an AutoencoderKL: use vae.decode()');
    const t = checkTensor(latents, 'latents');
    const C = this.config.latent_channels;
    if (t.shape.length !== 5 || t.shape[1] !== C || t.shape.some((d) => d < 1)) {
      throw InvalidArgumentError.expected('latents.shape', `(B, ${C}, F, h, w) with every dimension >= 1`, t.shape);
    }
    const chunkFrames = options.chunkFrames ?? 14;
    if (!Number.isInteger(chunkFrames) || chunkFrames < 1) throw InvalidArgumentError.expected('chunkFrames', 'a positive integer', chunkFrames);
    checkFinite(t, 'latents');
    const [B, , F, h, w] = t.shape;
    // z = 1 / scaling_factor * latents: Python's double reciprocal, applied by torch as a float32 multiplier
    const s = Math.fround(1 / this.config.scaling_factor);
    const z = new Float32Array(t.data.length), plane = h * w;
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        for (let f = 0; f < F; f++) {
          const src = ((b * C + c) * F + f) * plane, dst = ((b * F + f) * C + c) * plane; // 'b c f h w -> (b f) c h w'
          for (let i = 0; i < plane; i++) z[dst + i] = Math.fround(t.data[src + i] * s);
        }
      }
    }
    const r = await this.decodeScaled({ data: z, shape: [B * F, C, h, w] }, {
      chunk: F === 1 ? 1 : chunkFrames, signal: options.signal, onProgress: options.onProgress,
    });
    // rows (b f) of (out, H, W) are already (B, F, out, H, W) in memory
    return { data: r.data, shape: [B, F, ...r.shape.slice(1)] };
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

export interface DecodeVideoOptions {
  /** Flattened frames per decode call, each call one video (default 14: the pipeline's decode_chunk_size). */
  chunkFrames?: number;
  /** Stops the decode between ops and between chunks (AbortError). */
  signal?: AbortSignal;
  /** As DecodeOptions.onProgress: per chunk the mid block and each up block. */
  onProgress?: (progress: DecodeProgress) => void;
}

function checkFinite(t: Tensor, name: string): void {
  const bad = t.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw InvalidArgumentError.expected(`${name}.data`, 'finite numbers', `${t.data[bad]} at index ${bad}`);
}

/**
 * The official uint8 conversion of decoded frames (the end of Skip-DiT's `decode_latents_with_temporal_decoder`):
 * frames (B, F, C, H, W) float32 -> video (B, F, H, W, C) uint8 with `((v / 2 + 0.5).clamp(0, 1) * 255).to(uint8)`:
 * float32 ops in that order, then truncation (no rounding: unlike save_image and Latte's class-to-video scripts).
 * NaN becomes 0.
 */
export function videoToUint8(frames: Tensor): { data: Uint8Array; shape: number[] } {
  const t = checkTensor(frames, 'frames');
  if (t.shape.length !== 5) throw InvalidArgumentError.expected('frames.shape', '(B, F, C, H, W)', t.shape);
  const [B, F, C, H, W] = t.shape, plane = H * W;
  const out = new Uint8Array(t.data.length);
  for (let n = 0; n < B * F; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < plane; i++) {
        out[(n * plane + i) * C + c] = mapByte(t.data[(n * C + c) * plane + i], 'latte-t2v');
      }
    }
  }
  return { data: out, shape: [B, F, H, W, C] };
}
