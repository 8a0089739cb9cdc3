// Model: a loaded DiT / Latte network on one backend. The forward pass runs on a worker thread; this
// file validates every input (typed errors naming the parameter) before anything reaches native code.
import { checkWeightsFile } from './checkpoint.js';
import type { NativeForwardOptions, NativeModel, NativeProfile, NativeTensor } from '../binding.js';
import { Latents } from './latents.js';
import type { SamplerCoefficients } from './samplers.js';
import type { DiffusersDDIMCoefficients, DiffusersDDPMCoefficients } from './schedulers.js';
import { SkipCache, nativeCachePolicy, resolveCachePolicy, type CachePolicyInput } from './cache.js';
import { cacheable, describeModel, families, sampleShape } from './architecture.js';
import { resolveConfig, type ModelConfig, type ModelConfigInput, type PresetName } from './config.js';
import {
  AbortError,
  CheckpointError,
  DisposedError,
  FLOAT32_EXPECTED,
  InvalidArgumentError,
  fromNativeError,
  isFloat32,
} from './errors.js';
import { native } from './native.js';
import { computeLane } from './queue.js';
import { checkSignal, withAbortFlag } from './abort.js';
import { checkOnProgress, loadEvent, withProgress, type LoadProgress } from './progress.js';
import { checkTensor, type Tensor } from './tensor.js';

import { chooseBackend, type BackendName } from './backends.js';
import { localPath, type HubLoadOptions } from './hub/uri.js';

export { backends, chooseBackend } from './backends.js';
export type { BackendName, BackendInfo } from './backends.js';

export interface LoadModelOptions extends HubLoadOptions {
  /**
   * A preset name or a config object (missing fields are taken from the file); default: the config in the
   * file's metadata, else the one inferred from its tensor shapes.
   */
  config?: PresetName | ModelConfigInput;
  /** torch training checkpoints: the state dict to use ('ema' is the default when present, then 'model'; 'root' for the top level). */
  checkpointKey?: string;
  /**
   * 'auto' (default) picks CUDA when a device is usable and passed this process's self-test (autoBackend()), else
   * CPU; SKIPDIT_BACKEND=cpu|cuda overrides 'auto'. 'cuda' is explicit: no self-test.
   */
  backend?: 'auto' | BackendName;
  /**
   * Precision of the linear weights: 'float32' (default) or 'bfloat16' (half the memory; on CPU the products use
   * AVX-512 BF16 where available, fp32 activations and accumulation); 'float16' on CUDA only.
   */
  dtype?: ModelDType;
  /** Count calls, wall time and FLOPs of every backend op (read with model.profile()); adds a little overhead per op. */
  profile?: boolean;
  /**
   * Activation memory bounds, in bytes. `retain` (default 1 GiB): after a call the workspace is kept for the next
   * call while it is at most this big, else released (a one-off batch of 4096 does not pin its memory until
   * dispose()); a call that fails always releases it. `max` (default: none): a call needing more fails with an
   * InvalidArgumentError before allocating it (a server's cap on what one request may take).
   */
  workspace?: { retain?: number; max?: number };
  /** Stops the load: before reading the file, and between tensors (AbortError). */
  signal?: AbortSignal;
  /**
   * Called while the weights are bound: `{ phase: 'load', completed, total, unit: 'tensors' }`, at most every 50 ms
   * and always with completed === total before the load resolves. What it throws is reported as a process warning
   * and does not fail the load.
   */
  onProgress?: (progress: LoadProgress) => void;
}

/** Per-op totals of a profiled model: `{ backend, ops: [{ op, calls, seconds, flops }] }`. */
export type ModelProfile = NativeProfile;

export type ModelDType = 'float32' | 'bfloat16' | 'float16';
const DTYPES: readonly ModelDType[] = ['float32', 'bfloat16', 'float16'];

export interface ForwardInput {
  /** (B, C, H, W) for DiT, (B, F, C, H, W) for Latte, float32. */
  x: Tensor;
  /** Original timesteps 0..999 (fractions allowed), one per row, or one number for all rows. */
  t: number | ArrayLike<number>;
  /** Class labels, one per row; the null class is num_classes. Omit for unconditional models. */
  y?: ArrayLike<number>;
  /**
   * LatteT2V only (required): text states (B, L, caption_channels) float32, e.g. T5 outputs; or one
   * `{ states: (L, caption_channels), mask?: (L) }` per row (stacked; every row the same L), masks giving textMask.
   */
  text?: Tensor | RowText[];
  /**
   * Hunyuan-DiT v1.1 (size_cond) only: image_meta_size, 6 values per row ([size_cond h, size_cond w, target width,
   * target height, 0, 0] in the official pipeline), (B, 6) or B*6 numbers.
   */
  imageMetaSize?: ArrayLike<number>;
  /**
   * LatteT2V only, optional: (B, L) 1 keep / 0 drop, the official encoder_attention_mask (a -10000 bias on the
   * dropped tokens in every cross-attention). The official pipeline passes none.
   */
  textMask?: Tensor;
}

/** One row's text states (L, D) and optionally its 0/1 mask (L). */
export interface RowText {
  states: Tensor;
  mask?: Tensor;
}

export interface CfgInput extends ForwardInput {
  cfgScale: number;
  /**
   * Output channels that receive guidance. Default: the official rule (DiT: first 3, Latte: first 4);
   * 'eps' guides all in_channels noise channels (the standard formulation).
   */
  cfgChannels?: number | 'eps';
}

export interface ForwardOptions {
  signal?: AbortSignal;
  /** Also return intermediate tensors (for debugging and golden-vector tests). */
  taps?: boolean;
  /** A Skip-Cache state from model.createCache(): this call advances it by one (the official rule). */
  cache?: SkipCache;
  /** With a cache: run every block on this call (the state still advances). An adaptive cache adds its own decision. */
  forceFull?: boolean;
}

export interface ForwardResult extends Tensor {
  taps?: Record<string, Tensor>;
  /** The call was a cached step (middle blocks skipped). */
  cached: boolean;
  /** Transformer blocks that ran. */
  blocksExecuted: number;
  /** The call ran as a recorded CUDA graph (the CUDA backend replays a forward from its third call with the
   * same shapes and cache state; SKIPDIT_CUDA_GRAPHS=0 turns this off). Always false on the CPU. */
  graph: boolean;
  /** With an adaptive cache: the relative L1 change of the shallow units' output since the previous call, and the
   * drift accumulated over the cached calls since the last full one, after this call. */
  drift?: number;
  accumulatedDrift?: number;
}

export interface SampleStepInput {
  /** Original timestep(s), as in forward(). */
  t: number | ArrayLike<number>;
  /** Class labels, one per latent row (conditional models). */
  y?: ArrayLike<number>;
  /**
   * Guidance as forwardWithCfg (DiT/Latte: cond rows, then uncond rows; LatteT2V: uncond rows, then cond rows, as
   * the text-to-video pipeline); omit for an unguided step.
   */
  cfgScale?: number;
  cfgChannels?: number | 'eps';
  /** LatteT2V: the text states of every latent row (and optionally their mask), as in forward(). */
  text?: Tensor | RowText[];
  textMask?: Tensor;
  /** Hunyuan-DiT v1.1: image_meta_size, as in forward(). */
  imageMetaSize?: ArrayLike<number>;
}

export interface SampleStepOptions extends Omit<ForwardOptions, 'taps'> {
  /** Per-step noise like the latents, used when the update adds noise (DDPM, DDIM with eta > 0). */
  noise?: Float32Array;
}

/** What a sampleStep() call did (no tensor: the result is in the latents). */
export interface StepReport {
  cached: boolean;
  blocksExecuted: number;
  graph: boolean;
  /** With an adaptive cache: as ForwardResult's. */
  drift?: number;
  accumulatedDrift?: number;
}

/**
 * Loads a model from a safetensors file or a torch.save checkpoint (state dict or training dict; the pickle is
 * interpreted, never executed), with the official state_dict names. `hf://<org>/<name>/<file>` downloads the file
 * into the Hugging Face cache on first use (options.revision, options.hub).
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<Model> {
  if (typeof path !== 'string' || path.length === 0) throw InvalidArgumentError.expected('path', 'a file path string', path);
  if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
  path = await localPath(path, { weights: true }, options);
  checkWeightsFile(path);
  if (options.checkpointKey !== undefined && (typeof options.checkpointKey !== 'string' || options.checkpointKey === '')) {
    throw InvalidArgumentError.expected('options.checkpointKey', 'a top-level key such as "ema", "model" or "root"', options.checkpointKey);
  }
  const dtype = options.dtype ?? 'float32';
  if (!DTYPES.includes(dtype)) throw InvalidArgumentError.expected('options.dtype', "'float32', 'bfloat16' or 'float16'", options.dtype);
  if (options.profile !== undefined && typeof options.profile !== 'boolean') {
    throw InvalidArgumentError.expected('options.profile', 'a boolean', options.profile);
  }
  const workspace = checkWorkspaceOptions(options.workspace);
  const signal = checkSignal(options.signal);
  const onProgress = checkOnProgress<LoadProgress>(options.onProgress);
  const backend = await chooseBackend(options.backend);
  if (backend === 'cpu' && dtype === 'float16') {
    throw InvalidArgumentError.expected('options.dtype', "'float32' or 'bfloat16' on the cpu backend", dtype);
  }
  try {
    const info = await native().inspectCheckpoint(path, options.checkpointKey);
    const config = resolveConfig(info, path, options.config);
    const handle = await withProgress(onProgress, loadEvent, (progress) => withAbortFlag(signal, (abort) => native().loadModel(path, config, {
      backend, dtype, key: options.checkpointKey, profile: options.profile === true, ...workspace, abort, onProgress: progress,
    })));
    return new Model(handle, config, backend, dtype);
  } catch (err) {
    throw fromNativeError(err);
  }
}

function checkWorkspaceOptions(w: unknown): { workspaceRetain?: number; workspaceMax?: number } {
  if (w === undefined) return {};
  if (typeof w !== 'object' || w === null) throw InvalidArgumentError.expected('options.workspace', '{ retain?, max? } in bytes', w);
  const out: { workspaceRetain?: number; workspaceMax?: number } = {};
  for (const [key, field] of [['retain', 'workspaceRetain'], ['max', 'workspaceMax']] as const) {
    const v = (w as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (key === 'max' ? 1 : 0)) {
      throw InvalidArgumentError.expected(`options.workspace.${key}`, key === 'max' ? 'a positive integer (bytes)' : 'a non-negative integer (bytes)', v);
    }
    out[field] = v;
  }
  return out;
}

export class Model {
  readonly config: ModelConfig;
  readonly backend: BackendName;
  /** The precision the linear weights are stored in. */
  readonly dtype: ModelDType;
  #native: NativeModel | undefined;

  /** @internal Use loadModel(). */
  constructor(handle: NativeModel, config: ModelConfig, backend: BackendName, dtype: ModelDType = 'float32') {
    this.#native = handle;
    this.config = Object.freeze({ ...config });
    this.backend = backend;
    this.dtype = dtype;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** Output channels (2 x in_channels with learn_sigma). */
  get outChannels(): number {
    return this.config.learn_sigma ? 2 * this.config.in_channels : this.config.in_channels;
  }

  /** Rows of the label table (num_classes + 1 with the null class). */
  get labelRows(): number {
    return this.config.num_classes + (this.config.class_dropout ? 1 : 0);
  }

  /** The official output of model.forward(x, t, y). */
  async forward(input: ForwardInput, options: ForwardOptions = {}): Promise<ForwardResult> {
    const handle = this.#live();
    const args = this.#check(input);
    return this.#run(handle, args, { ...this.#nativeOptions(options), ...this.#checkText(input, args.xShape[0]) }, options.signal);
  }

  /**
   * The official forward_with_cfg: runs cat([x[:B/2], x[:B/2]]) once (rows [0, B/2) with the real labels,
   * rows [B/2, B) with the null label) and applies uncond + s * (cond - uncond) to the guided channels.
   * LatteT2V (the text-to-video pipeline's CFG): rows [0, B/2) take the negative prompt's text states, rows
   * [B/2, B) the prompt's (`text` holds both halves), and every output channel is guided; eps is the first C.
   */
  async forwardWithCfg(input: CfgInput, options: ForwardOptions = {}): Promise<ForwardResult> {
    const handle = this.#live();
    const args = this.#check(input);
    const cfg = this.#guidance(input, args.xShape[0]);
    return this.#run(handle, args, { ...this.#nativeOptions(options), ...cfg, ...this.#checkText(input, args.xShape[0]) }, options.signal);
  }

  /**
   * Latents of shape x.shape in this model's backend memory (device memory on CUDA), for sampleStep(). `x` is
   * copied now; the upload takes its turn on the compute lane after the calls queued before it, on a pool thread
   * (the event loop never waits for a running step). They hold native memory: dispose() them (Pipeline does for
   * its own). `signal` rejects with AbortError while the call waits for its turn.
   */
  async createLatents(x: Tensor, options: { signal?: AbortSignal } = {}): Promise<Latents> {
    const handle = this.#live();
    const t = checkTensor(x, 'x');
    this.#checkShape(t.shape);
    if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
    const signal = checkSignal(options.signal);
    const data = t.data.slice();
    const shape = [...t.shape];
    try {
      return new Latents(await this.#queue(() => handle.createLatents(data, shape), signal), shape, this);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /**
   * One sampling step on `latents`, in place and without leaving the backend: the forward (with guidance when
   * input.cfgScale is set, as forwardWithCfg), then the sampler update with the given coefficients
   * (sampler.coefficients(index)), bit-identical to sampler.step(). Pipeline drives its runs with this.
   */
  async sampleStep(latents: Latents, input: SampleStepInput, update: SamplerCoefficients | DiffusersDDIMCoefficients | DiffusersDDPMCoefficients, options: SampleStepOptions = {}): Promise<StepReport> {
    const handle = this.#live();
    if (!(latents instanceof Latents)) throw InvalidArgumentError.expected('latents', 'Latents from model.createLatents()', latents);
    if (latents.owner !== this) throw InvalidArgumentError.expected('latents', 'latents created by this model', 'latents of another model');
    if (typeof input !== 'object' || input === null) throw InvalidArgumentError.expected('input', '{ t, y?, cfgScale?, cfgChannels? }', input);
    const args = this.#checkCall([...latents.shape], input.t, input.y);
    const cfg = input.cfgScale === undefined ? {} : this.#guidance(input as CfgInput, latents.shape[0]);
    const text = this.#checkText(input, latents.shape[0]);
    if (typeof update !== 'object' || update === null || !['ddim', 'ddpm', 'ddim-diffusers', 'ddpm-diffusers'].includes(update.kind)) {
      throw InvalidArgumentError.expected('update', 'sampler coefficients (sampler.coefficients(index))', update);
    }
    if (update.kind === 'ddpm' && update.learnedRange && !this.config.learn_sigma) {
      throw InvalidArgumentError.expected('update', "a fixed variance (the model has no variance channels: learn_sigma is false)", 'learned_range');
    }
    const n = latents.shape.reduce((a, b) => a * b, 1);
    if (options.noise !== undefined && (!(options.noise instanceof Float32Array) || options.noise.length !== n)) {
      throw InvalidArgumentError.expected('options.noise', `a Float32Array of ${n} values`, options.noise);
    }
    const needsNoise = update.kind === 'ddim' ? update.noiseScale !== 0 : update.kind === 'ddpm' ? !update.last
      : update.kind === 'ddpm-diffusers' ? update.addNoise === true : false;
    if (needsNoise && options.noise === undefined) {
      throw InvalidArgumentError.expected('options.noise', `a Float32Array of ${n} values (this update adds noise)`, undefined);
    }
    const signal = checkSignal(options.signal);
    const nativeOptions = { ...this.#nativeOptions(options), ...cfg, ...text, update, noise: options.noise };
    try {
      const r = await this.#queue(() => withAbortFlag(signal, (abort) => handle.sampleStep(latents.native, args.t, args.y, { ...nativeOptions, abort })), signal);
      return { cached: r.cached, blocksExecuted: r.blocksExecuted, graph: r.graph, ...(r.drift === undefined ? {} : { drift: r.drift }), ...(r.accumulated === undefined ? {} : { accumulatedDrift: r.accumulated }) };
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /**
   * A new Skip-Cache state for one sampling run (a preset such as 'dit', 'dit:3', 'latte', or a policy).
   * Each cache is independent: two pipelines on one model never share one.
   */
  createCache(policy: CachePolicyInput): SkipCache {
    const handle = this.#live();
    const resolved = resolveCachePolicy(policy);
    // The branches the model has: k units at each end must leave the resume point in the decoder half.
    const d = describeModel(this.config);
    if (!cacheable(this.config)) {
      throw new InvalidArgumentError(`Skip-Cache needs a model with skip branches; this ${families[this.config.family].name} has none`);
    }
    const maxBranch = d.cached.length;
    if (resolved.branch > maxBranch) {
      const unit = d.unitBlocks === 1 ? 'blocks' : 'spatial+temporal pairs';
      throw InvalidArgumentError.expected('cache.branch', `an integer in [1, ${maxBranch}] (${unit} kept at each end)`, resolved.branch);
    }
    try {
      return new SkipCache(handle.createCache(nativeCachePolicy(resolved)), this);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Bytes of weights and activation workspace held natively. */
  memory(): { weightBytes: number; workspaceBytes: number } {
    const info = this.#live().info();
    return { weightBytes: info.weightBytes, workspaceBytes: info.workspaceBytes };
  }

  /**
   * The backend ops run since load or the last reset (`{ reset: true }` clears them after reading), for a model
   * loaded with `{ profile: true }`; null otherwise.
   */
  profile(options: { reset?: boolean } = {}): ModelProfile | null {
    return this.#live().profile(options.reset === true);
  }

  /** Releases the native weights now (also after an in-flight forward finishes). Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(): NativeModel {
    if (!this.#native) throw new DisposedError('The model');
    return this.#native;
  }

  /** Calls of this model queued or running (they run one at a time per backend, in call order). */
  get pendingCalls(): number {
    return this.#pending;
  }

  /** Calls of this model executing natively right now (0 or 1): a synchronous latents read / write is refused meanwhile. */
  get runningCalls(): number {
    return this.#running;
  }

  #pending = 0;
  #running = 0;

  /** @internal A latents copy (readAsync, writeAsync) as a call of this model: a turn on the compute lane. */
  latentsCall<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#queue(call, signal);
  }

  /**
   * Runs a native call on this backend's compute lane: waiting calls hold no libuv pool thread. Every call that
   * takes the model's lock on a worker goes through here, so #running > 0 whenever a worker may hold it.
   */
  async #queue<T>(call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    this.#pending++;
    try {
      return await computeLane(this.backend).run(async () => {
        this.#running++;
        try {
          return await call();
        } finally {
          this.#running--;
        }
      }, signal);
    } finally {
      this.#pending--;
    }
  }

  #nativeOptions(options: ForwardOptions): NativeForwardOptions {
    if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
    const out: NativeForwardOptions = { taps: options.taps === true };
    if (options.cache !== undefined) {
      if (!(options.cache instanceof SkipCache)) throw InvalidArgumentError.expected('options.cache', 'a SkipCache from model.createCache()', options.cache);
      if (options.cache.owner !== this) throw InvalidArgumentError.expected('options.cache', 'a cache created by this model', 'a cache of another model');
      out.cache = options.cache.native;
      out.forceFull = options.forceFull === true;
    } else if (options.forceFull) {
      throw InvalidArgumentError.expected('options.forceFull', 'a cache to force a full step of', 'no cache');
    }
    return out;
  }

  #check(input: ForwardInput): { x: Float32Array; xShape: number[]; t: Float32Array; y: Int32Array | null } {
    if (typeof input !== 'object' || input === null) throw InvalidArgumentError.expected('input', '{ x, t, y? }', input);
    const x = checkTensor(input.x, 'x');
    return { x: x.data, xShape: x.shape, ...this.#checkCall(x.shape, input.t, input.y) };
  }

  /** LatteT2V: text (B, L, caption_channels) and textMask (B, L) 0/1; other families: neither. */
  #checkText(input: Pick<ForwardInput, 'text' | 'textMask' | 'imageMetaSize'>, B: number): Pick<NativeForwardOptions, 'text' | 'textMask' | 'textT5' | 'textT5Mask' | 'imageMeta'> {
    const c = this.config;
    if (c.family === 'hunyuan-dit') return hunyuanText(c, input, B);
    if (c.family !== 'latte-t2v') {
      if (input.text !== undefined) throw InvalidArgumentError.expected('text', `no text states (this ${families[c.family].name} model is not text-conditioned)`, 'text');
      if (input.textMask !== undefined) throw InvalidArgumentError.expected('textMask', 'no text mask (not a text-conditioned model)', 'textMask');
      return {};
    }
    if (input.text === undefined) throw InvalidArgumentError.expected('text', `text states (B, L, ${c.caption_channels}) for LatteT2V`, input.text);
    if (Array.isArray(input.text)) return this.#checkText(stackRows(input.text, input.textMask, B), B);
    const text = checkTensor(input.text, 'text');
    const s = text.shape;
    if (s.length !== 3 || s[0] !== B || !(s[1] >= 1) || s[2] !== c.caption_channels) {
      throw InvalidArgumentError.expected('text.shape', `[${B}, L, ${c.caption_channels}] with L >= 1`, s);
    }
    for (let i = 0; i < text.data.length; i++) {
      if (!Number.isFinite(text.data[i])) throw InvalidArgumentError.expected(`text.data[${i}]`, 'a finite number', text.data[i]);
    }
    const out: Pick<NativeForwardOptions, 'text' | 'textMask'> = { text: { data: text.data, shape: s } };
    if (input.textMask !== undefined) {
      const mask = checkTensor(input.textMask, 'textMask');
      if (mask.shape.length !== 2 || mask.shape[0] !== B || mask.shape[1] !== s[1]) {
        throw InvalidArgumentError.expected('textMask.shape', `[${B}, ${s[1]}] (one 0/1 per text token)`, mask.shape);
      }
      for (let i = 0; i < mask.data.length; i++) {
        if (mask.data[i] !== 0 && mask.data[i] !== 1) throw InvalidArgumentError.expected(`textMask.data[${i}]`, '0 or 1', mask.data[i]);
      }
      out.textMask = { data: mask.data, shape: mask.shape };
    }
    return out;
  }

  /** x's shape must be the official layout of this model with B >= 1. */
  #checkShape(shape: number[]): void {
    const B = shape[0];
    if (this.config.family === 'hunyuan-dit') { // any latent size, a multiple of the patch
      const { in_channels: C, patch_size: p } = this.config;
      if (shape.length !== 4 || !(B >= 1) || shape[1] !== C || !(shape[2] >= p && shape[3] >= p) || shape[2] % p || shape[3] % p) {
        throw InvalidArgumentError.expected('x.shape', `(B, C, h, w) = [B, ${C}, h, w] with B >= 1 and h, w multiples of the patch ${p}`, shape);
      }
      return;
    }
    const expected = [B, ...sampleShape(this.config)];
    // LatteT2V also runs a single frame (no temporal position embedding)
    if (this.config.family === 'latte-t2v' && shape.length === 5 && shape[2] === 1) expected[2] = 1;
    const layout = this.config.family === 'latte-t2v' ? '(B, C, F, H, W)' : families[this.config.family].video ? '(B, F, C, H, W)' : '(B, C, H, W)';
    if (shape.length !== expected.length || !(B >= 1) || shape.some((d, i) => d !== expected[i])) {
      throw InvalidArgumentError.expected('x.shape', `${layout} = [B, ${expected.slice(1).join(', ')}] with B >= 1`, shape);
    }
  }

  /** Checks x's shape and converts t and y for a call on B = shape[0] rows. */
  #checkCall(shape: number[], tIn: ForwardInput['t'], yIn: ForwardInput['y']): { t: Float32Array; y: Int32Array | null } {
    const c = this.config;
    this.#checkShape(shape);
    const B = shape[0];
    const t = new Float32Array(B);
    if (typeof tIn === 'number') {
      t.fill(tIn);
    } else {
      if (tIn === null || typeof tIn !== 'object' || typeof (tIn as ArrayLike<number>).length !== 'number' || tIn.length !== B) {
        throw InvalidArgumentError.expected('t', `a number or ${B} timesteps`, tIn);
      }
      for (let i = 0; i < B; i++) t[i] = Number(tIn[i]);
    }
    for (let i = 0; i < B; i++) {
      // (the message shows the value given, not its float32 rounding: 1e39 rather than Infinity)
      if (!Number.isFinite(t[i]) || t[i] < 0 || t[i] > 1000) {
        throw InvalidArgumentError.expected(`t[${i}]`, 'a timestep in [0, 1000]', typeof tIn === 'number' ? tIn : tIn[i]);
      }
    }
    let y: Int32Array | null = null;
    if (c.num_classes > 0) {
      if (yIn === undefined || yIn === null || typeof yIn !== 'object' || yIn.length !== B) {
        throw InvalidArgumentError.expected('y', `${B} class labels`, yIn);
      }
      y = new Int32Array(B);
      for (let i = 0; i < B; i++) {
        const v = Number(yIn[i]);
        if (!Number.isInteger(v) || v < 0 || v >= this.labelRows) {
          throw InvalidArgumentError.expected(`y[${i}]`, `a class label in [0, ${this.labelRows - 1}]`, yIn[i]);
        }
        y[i] = v;
      }
    } else if (yIn !== undefined) {
      throw InvalidArgumentError.expected('y', 'no labels (this model is unconditional)', yIn);
    }
    return { t, y };
  }

  /** The native guidance options of a forwardWithCfg-style call on `rows` rows. */
  #guidance(input: { cfgScale: number; cfgChannels?: number | 'eps' }, rows: number): { cfgScale: number; cfgChannels: number } {
    if (rows % 2 !== 0) throw InvalidArgumentError.expected('x.shape[0]', 'an even batch (cond rows then uncond rows)', rows);
    // The guidance runs in float32: a scale beyond float32's range would turn every output into NaN.
    if (!isFloat32(input.cfgScale)) throw InvalidArgumentError.expected('cfgScale', FLOAT32_EXPECTED, input.cfgScale);
    const official = families[this.config.family].cfgChannels;
    let channels: number;
    if (input.cfgChannels === undefined) channels = official === 'all' ? this.outChannels : Math.min(official, this.outChannels);
    else if (input.cfgChannels === 'eps') channels = this.config.in_channels;
    else if (Number.isInteger(input.cfgChannels) && input.cfgChannels >= 1 && input.cfgChannels <= this.outChannels) channels = input.cfgChannels;
    else throw InvalidArgumentError.expected('cfgChannels', `'eps' or an integer in [1, ${this.outChannels}]`, input.cfgChannels);
    return { cfgScale: input.cfgScale, cfgChannels: channels };
  }

  async #run(
    handle: NativeModel,
    args: { x: Float32Array; xShape: number[]; t: Float32Array; y: Int32Array | null },
    nativeOptions: NativeForwardOptions,
    signal: AbortSignal | undefined,
  ): Promise<ForwardResult> {
    checkSignal(signal);
    let result;
    try {
      result = await this.#queue(() => withAbortFlag(signal, (abort) => handle.forward(args.x, args.xShape, args.t, args.y, { ...nativeOptions, abort })), signal);
    } catch (err) {
      throw fromNativeError(err);
    }
    // An abort that came after the last block check: the call completed, its result is discarded.
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
    const out: ForwardResult = { data: result.data, shape: result.shape, cached: result.cached, blocksExecuted: result.blocksExecuted, graph: result.graph };
    if (result.drift !== undefined) out.drift = result.drift;
    if (result.accumulated !== undefined) out.accumulatedDrift = result.accumulated;
    if (result.taps) out.taps = Object.fromEntries(Object.entries(result.taps).map(([k, v]: [string, NativeTensor]) => [k, { data: v.data, shape: v.shape }]));
    return out;
  }
}

/** Per-row text `[{ states (L, D), mask? (L) }]` as one (B, L, D) tensor and, when any row has a mask, (B, L) masks. */
function stackRows(rows: RowText[], textMask: Tensor | undefined, B: number): { text: Tensor; textMask?: Tensor } {
  if (textMask !== undefined) throw InvalidArgumentError.expected('textMask', 'no textMask with per-row text (give each row its mask)', 'textMask');
  if (rows.length !== B) throw InvalidArgumentError.expected('text', `${B} rows (one per row of x)`, rows.length);
  const states = rows.map((r, i) => {
    if (typeof r !== 'object' || r === null) throw InvalidArgumentError.expected(`text[${i}]`, '{ states, mask? }', r);
    const s = checkTensor(r.states, `text[${i}].states`);
    if (s.shape.length !== 2) throw InvalidArgumentError.expected(`text[${i}].states.shape`, '[L, D]', s.shape);
    return s;
  });
  const [L, D] = states[0].shape;
  const data = new Float32Array(B * L * D);
  const anyMask = rows.some((r) => r.mask !== undefined);
  const mask = anyMask ? new Float32Array(B * L).fill(1) : undefined;
  states.forEach((s, i) => {
    if (s.shape[0] !== L || s.shape[1] !== D) throw InvalidArgumentError.expected(`text[${i}].states.shape`, `[${L}, ${D}] like text[0]`, s.shape);
    data.set(s.data, i * L * D);
    if (rows[i].mask !== undefined) {
      const m = checkTensor(rows[i].mask!, `text[${i}].mask`);
      if (m.data.length !== L) throw InvalidArgumentError.expected(`text[${i}].mask.shape`, `[${L}]`, m.shape);
      mask!.set(m.data, i * L);
    }
  });
  return { text: { data, shape: [B, L, D] }, ...(mask ? { textMask: { data: mask, shape: [B, L] } } : {}) };
}

/**
 * Hunyuan-DiT's text: `[{ states, mask }, { states, mask }]` in the model's declared order: BERT (B, text_len,
 * text_states_dim), then mT5 (B, text_len_t5, text_states_dim_t5), each with its tokenizer mask (B, L) of 0/1 (the
 * masks only choose learned rows for padded tokens; nothing is masked in attention).
 */
function hunyuanText(c: ModelConfig, input: Pick<ForwardInput, 'text' | 'textMask' | 'imageMetaSize'>, B: number): Pick<NativeForwardOptions, 'text' | 'textMask' | 'textT5' | 'textT5Mask' | 'imageMeta'> {
  if (input.textMask !== undefined) throw InvalidArgumentError.expected('textMask', 'no textMask (give each encoder its mask in text)', 'textMask');
  const encoders = [['BERT', c.text_len!, c.text_states_dim!], ['mT5', c.text_len_t5!, c.text_states_dim_t5!]] as const;
  if (!Array.isArray(input.text) || input.text.length !== 2) {
    throw InvalidArgumentError.expected('text', '[{ states, mask } (BERT), { states, mask } (mT5)]', input.text);
  }
  const out = encoders.map(([name, L, D], i) => {
    const entry = (input.text as RowText[])[i];
    if (typeof entry !== 'object' || entry === null) throw InvalidArgumentError.expected(`text[${i}]`, `the ${name} { states, mask }`, entry);
    const states = checkTensor(entry.states, `text[${i}].states`);
    if (states.shape.length !== 3 || states.shape[0] !== B || states.shape[1] !== L || states.shape[2] !== D) {
      throw InvalidArgumentError.expected(`text[${i}].states.shape`, `[${B}, ${L}, ${D}] (${name})`, states.shape);
    }
    for (let k = 0; k < states.data.length; k++) {
      if (!Number.isFinite(states.data[k])) throw InvalidArgumentError.expected(`text[${i}].states.data[${k}]`, 'a finite number', states.data[k]);
    }
    if (entry.mask === undefined) throw InvalidArgumentError.expected(`text[${i}].mask`, `the ${name} tokenizer mask (${B}, ${L})`, undefined);
    const mask = checkTensor(entry.mask, `text[${i}].mask`);
    if (mask.shape.length !== 2 || mask.shape[0] !== B || mask.shape[1] !== L) throw InvalidArgumentError.expected(`text[${i}].mask.shape`, `[${B}, ${L}]`, mask.shape);
    for (let k = 0; k < mask.data.length; k++) {
      if (mask.data[k] !== 0 && mask.data[k] !== 1) throw InvalidArgumentError.expected(`text[${i}].mask.data[${k}]`, '0 or 1', mask.data[k]);
    }
    return { states: { data: states.data, shape: states.shape }, mask: { data: mask.data, shape: mask.shape } };
  });
  const meta = input.imageMetaSize;
  if (!c.size_cond) {
    if (meta !== undefined) throw InvalidArgumentError.expected('imageMetaSize', 'none (the model has no size condition: v1.2)', 'imageMetaSize');
    return { text: out[0].states, textMask: out[0].mask, textT5: out[1].states, textT5Mask: out[1].mask };
  }
  if (meta === undefined || typeof meta.length !== 'number' || meta.length !== 6 * B) {
    throw InvalidArgumentError.expected('imageMetaSize', `${6 * B} numbers (6 per row: the v1.1 size condition)`, meta === undefined ? undefined : meta.length);
  }
  const imageMeta = Float32Array.from(meta, Number);
  imageMeta.forEach((v, i) => {
    if (!Number.isFinite(v)) throw InvalidArgumentError.expected(`imageMetaSize[${i}]`, 'a finite number', meta[i]);
  });
  return { text: out[0].states, textMask: out[0].mask, textT5: out[1].states, textT5Mask: out[1].mask, imageMeta: { data: imageMeta, shape: [B, 6] } };
}
