// Pipeline: the official sampling loop (sample.py / sample_ddp.py; sample_t2v.py's LattePipeline for LatteT2V) as
// an object you drive step by step: initial noise, one batched cond+uncond forward per step when guiding, the
// sampler update, and an optional Skip-Cache state owned by this pipeline. A LatteT2V run starts from prompts
// (tokenizer + T5, encoded with the first step) or from precomputed text states, and samples with diffusers'
// DDIMScheduler (lib/schedulers.ts).
import { sampleShape } from './architecture.js';
import type { ModelConfig } from './config.js';
import { SkipCache, resolveCachePolicy, type CachePolicy, type CachePolicyInput, type CacheStats } from './cache.js';
import { AbortError, DisposedError, InvalidArgumentError, checkFloat32, describe } from './errors.js';
import { checkSignal } from './abort.js';
import { callFlops, forwardFlops } from './flops.js';
import type { Latents } from './latents.js';
import { HUNYUAN_NEGATIVE_PROMPT, encodeHunyuanPrompts, hunyuanTextRows, type HunyuanPromptStates, type HunyuanTextEncoders, type HunyuanTextSizes } from './hunyuan-text.js';
import { Model, type CfgInput, type RowText } from './model.js';
import { gaussianNoise } from './random.js';
import { createSampler, type Sampler, type SamplerName, type VarianceType } from './samplers.js';
import { DPMSolverMultistepScheduler } from './dpmsolver.js';
import { DiffusersDDIMScheduler, DiffusersDDPMScheduler, type TimestepSpacing } from './schedulers.js';
import { encodeT2VPrompts, officialTextStates, type PromptStates } from './t2v-text.js';
import { checkTensor, numel, type Tensor } from './tensor.js';
import { TextEncoderModel, type TextTokenizer } from './text-encoder.js';

/** The samplers a Pipeline runs: the official ones, and DPM-Solver++(2M) (diffusers' DPMSolverMultistepScheduler). */
export type PipelineSamplerName = SamplerName | 'dpmsolver++';

export interface PipelineOptions {
  /**
   * 'ddim' (default; Hunyuan-DiT: 'ddpm') or 'ddpm', the official samplers; or 'dpmsolver++': diffusers'
   * DPMSolverMultistepScheduler (2M, midpoint, lower_order_final, final sigma 0) for any family, fewer steps
   * (10-25). Its update runs on the host (the model output is downloaded each step).
   */
  sampler?: PipelineSamplerName;
  /** DPM-Solver++: Karras sigmas (use_karras_sigmas). */
  karras?: boolean;
  /** Sampling steps: S (section respacing "S", as create_diffusion(str(S))), "S1,S2,..." or "ddimS". Default 50. */
  steps?: number | string;
  /** DDIM eta (default 0). */
  eta?: number;
  /** DDPM variance; default learned_range for learn_sigma models, fixed_large otherwise (as the official code). */
  variance?: VarianceType;
  /** Classifier-free guidance scale; guidance is on when > 1 (the official `using_cfg = cfg_scale > 1`). */
  cfgScale?: number;
  /** 'official' (default: DiT guides 3 channels, Latte 4) or 'all' (every noise channel). */
  cfgChannels?: 'official' | 'all';
  /**
   * Skip-Cache: false (default), a preset ('dit', 'latte', 'latte-t2v', 'hunyuan'), 'dit:3' (interval 3),
   * sample_t2v.py's 'N2-700-50' form, or a policy.
   */
  cache?: false | CachePolicyInput;
  /** LatteT2V: the T5 encoder and its tokenizer, for runs started from prompts (init({ prompts })). */
  textEncoder?: TextEncoderModel;
  /** Hunyuan-DiT: the BERT and mT5 encoders with their tokenizers, for runs started from prompts. */
  textEncoders?: HunyuanTextEncoders;
  /** Hunyuan-DiT v1.1 (size_cond): sample_t2i.py's --size-cond [height, width] (default [1024, 1024]). */
  sizeCond?: [number, number];
  tokenizer?: TextTokenizer;
  /** LatteT2V: each prompt's cleaning before tokenizing (the official pipeline cleans captions); default: none. */
  cleanCaption?: (text: string) => string;
  /** LatteT2V: diffusers DDIMScheduler options (the official config: 'leading', 0, true, false); DPM-Solver++: its spacing (default 'linspace'). */
  timestepSpacing?: TimestepSpacing;
  stepsOffset?: number;
  setAlphaToOne?: boolean;
  clipSample?: boolean;
}

/** The text rows of a run: LatteT2V's (rows, L, D) states; Hunyuan-DiT's [BERT, mT5] pair. */
type PipelineText = Tensor | [RowText, RowText];
interface PendingPrompts {
  prompts: string[];
  negative: string | undefined;
  perPrompt: number;
}

export interface InitOptions {
  /** Class labels of the samples (conditional models). */
  labels?: ArrayLike<number>;
  /** Number of samples (unconditional models, when neither labels nor noise give it). */
  batch?: number;
  /** Seed of the initial noise and of every per-step noise (default 0); see lib/random.ts for the algorithm. */
  seed?: number;
  /**
   * The initial latent instead of seeded noise. With guidance it may be the conditional half z (n rows, then
   * duplicated as the official cat([z, z])) or the whole 2n-row batch; without guidance n rows.
   */
  noise?: Tensor;
  /**
   * Per-step noise for DDPM (and DDIM with eta > 0), shaped like the whole latent batch: a tensor
   * (steps, ...latent shape) or a function of the step index. Default: seeded noise (stream index + 1). A guided
   * text-conditioned run (Hunyuan-DiT, LatteT2V) draws it for the n samples only, as the official pipelines: both
   * halves of the [uncond, cond] state get the same noise.
   */
  stepNoise?: Tensor | ((index: number) => Float32Array | Tensor);
  /**
   * Text-conditioned models: the prompts, encoded by the first step (LatteT2V: with textEncoder + tokenizer, one video
   * per prompt; Hunyuan-DiT: with textEncoders, `batch` images per prompt).
   */
  prompts?: string[];
  /** With guidance: the negative prompt (default: the official one: '' for LatteT2V, hydit's Chinese one for Hunyuan-DiT). */
  negativePrompt?: string;
  /**
   * Precomputed text instead of prompts, one entry per prompt: LatteT2V `{ states, mask? }` (the official truncation
   * is applied); Hunyuan-DiT `[{ states, mask } (BERT), { states, mask } (mT5)]`.
   */
  text?: PromptStates[] | HunyuanPromptStates[];
  /** With guidance and `text`: the negative prompt's, one per prompt, in the same form. */
  negativeText?: PromptStates[] | HunyuanPromptStates[];
  /** LatteT2V: frames per video, the model's num_frames (default) or 1 (a single image, as video_length 1). */
  frames?: number;
  /** Hunyuan-DiT: [height, width] in pixels, multiples of 16 (default: the config's input_size x 8). */
  size?: [number, number];
}

export interface StepInfo {
  /** Step number in call order, 0 .. steps-1. */
  index: number;
  /** Original timestep the model was called with. */
  timestep: number;
  /** The model call was a cached Skip-Cache step. */
  cached: boolean;
  blocksExecuted: number;
  /** FLOPs of this model call. */
  flops: number;
  /** Wall time of the step (model call and sampler update). */
  ms: number;
  /** The model call ran as a recorded CUDA graph (see ForwardResult.graph). */
  graph: boolean;
  /** LatteT2V from prompts, first step: the time spent tokenizing and encoding the prompts (not in `ms`). */
  encodeMs?: number;
  /** An adaptive cache: the shallow units' relative change since the previous step, and the drift accumulated since the last full step after it. */
  drift?: number;
  accumulatedDrift?: number;
}

export interface PipelineCacheStats extends CacheStats {
  /** FLOPs of this run's model calls so far, of the same calls without a cache, and their difference. */
  flopsExecuted: number;
  flopsUncached: number;
  flopsSaved: number;
  /** flopsUncached / flopsExecuted: the speedup the FLOP count predicts. */
  predictedSpeedup: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called after every step; may read or replace pipeline.latents. */
  onStep?: (info: StepInfo, pipeline: Pipeline) => void | Promise<void>;
}

export class Pipeline {
  readonly model: Model;
  /** The ADM sampler (DiT, Latte), diffusers' DDIMScheduler (LatteT2V), DDPMScheduler or DDIMScheduler (Hunyuan-DiT). */
  readonly sampler: Sampler | DiffusersDDIMScheduler | DiffusersDDPMScheduler | DPMSolverMultistepScheduler;
  readonly textEncoder: TextEncoderModel | undefined;
  readonly textEncoders: HunyuanTextEncoders | undefined;
  readonly tokenizer: TextTokenizer | undefined;
  readonly #clean: ((text: string) => string) | undefined;
  readonly cfgScale: number | undefined;
  readonly cfgChannels: 'official' | 'all';
  // The cache policy outlives the run state: dispose() drops #cache, the next init() recreates it from #policy.
  #policy: CachePolicy | undefined;
  #cache: SkipCache | undefined;
  // The sampler state lives in the model's backend memory (on the GPU with CUDA); #snapshot is the last host
  // copy read, dropped by every step. init() and the latents setter only keep the values (#pending): the next
  // step puts them into the backend as a call of the model (createLatents / writeAsync), so neither of them
  // ever waits for, or is refused by, a call of the model that another pipeline is running.
  #shape: readonly number[] | undefined;
  #latents: Latents | undefined;
  #pending: Float32Array | undefined;
  #snapshot: Float32Array | undefined;
  #labels: number[] | undefined;
  #seed = 0;
  #stepNoise: InitOptions['stepNoise'];
  // Hunyuan-DiT v1.1: image_meta_size of every latent row
  #imageMeta: Float32Array | undefined;
  readonly #sizeCond: [number, number];
  // LatteT2V: the text rows of the state ([negatives, prompts] when guiding), or the prompts still to encode
  #text: PipelineText | undefined;
  #prompts: PendingPrompts | undefined;
  #index = 0;
  #busy = false;
  #history: StepInfo[] = [];

  constructor(model: Model, options: PipelineOptions = {}) {
    if (!(model instanceof Model)) throw InvalidArgumentError.expected('model', 'a Model from loadModel()', model);
    if (model.disposed) throw new DisposedError('The model');
    if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
    this.model = model;
    const c = model.config;
    const steps = options.steps ?? (c.family === 'hunyuan-dit' ? 100 : 50);
    if (typeof steps === 'number' && (!Number.isInteger(steps) || steps < 1 || steps > 1000)) {
      throw InvalidArgumentError.expected('steps', 'an integer in [1, 1000]', steps);
    }
    const t2v = c.family === 'latte-t2v';
    if (options.karras !== undefined && (typeof options.karras !== 'boolean' || options.sampler !== 'dpmsolver++')) {
      throw InvalidArgumentError.expected('karras', "a boolean, with sampler 'dpmsolver++'", options.karras);
    }
    if (options.sampler === 'dpmsolver++') {
      for (const key of ['eta', 'variance', 'stepsOffset', 'setAlphaToOne', 'clipSample'] as const) {
        if (options[key] !== undefined) throw InvalidArgumentError.expected(key, `no ${key} with sampler 'dpmsolver++'`, options[key]);
      }
      if (typeof steps !== 'number') throw InvalidArgumentError.expected('steps', "a number of steps with sampler 'dpmsolver++'", steps);
      this.sampler = dpmSolverFor(c, steps, options);
    } else if (t2v) {
      this.sampler = textToVideoScheduler(options, steps);
    } else if (c.family === 'hunyuan-dit') {
      for (const key of ['textEncoder', 'tokenizer', 'cleanCaption'] as const) {
        if (options[key] !== undefined) throw InvalidArgumentError.expected(key, `no ${key} (a LatteT2V option; Hunyuan-DiT takes textEncoders)`, options[key]);
      }
      this.sampler = hunyuanScheduler(options, steps, c.size_cond === true || c.style_cond === true);
    } else {
      if (options.sampler !== undefined && options.sampler !== 'ddim' && options.sampler !== 'ddpm') {
        throw InvalidArgumentError.expected('sampler', "'ddim', 'ddpm' or 'dpmsolver++'", options.sampler);
      }
      for (const key of ['textEncoder', 'tokenizer', 'cleanCaption', 'timestepSpacing', 'stepsOffset', 'setAlphaToOne', 'clipSample'] as const) {
        if (options[key] !== undefined) throw InvalidArgumentError.expected(key, `no ${key} (a text-conditioned model's option; the model is ${c.family})`, options[key]);
      }
      const variance = options.variance ?? (c.learn_sigma ? 'learned_range' : 'fixed_large');
      if (variance === 'learned_range' && !c.learn_sigma && (options.sampler ?? 'ddim') === 'ddpm') {
        throw InvalidArgumentError.expected('variance', "'fixed_large' or 'fixed_small' (the model has no variance channels: learn_sigma is false)", variance);
      }
      this.sampler = createSampler((options.sampler as SamplerName | undefined) ?? 'ddim', steps, { eta: options.eta, variance });
    }
    if (options.textEncoder !== undefined) {
      const e = options.textEncoder;
      if (!(e instanceof TextEncoderModel) || e.disposed) throw InvalidArgumentError.expected('textEncoder', 'a T5 encoder from loadTextEncoder()', e);
      if (e.family !== 't5' || e.hiddenSize !== c.caption_channels) {
        throw InvalidArgumentError.expected('textEncoder', `a T5 encoder of width ${c.caption_channels} (the model's caption_channels)`, `${e.family} of width ${e.hiddenSize}`);
      }
      if (typeof options.tokenizer !== 'object' || options.tokenizer === null || typeof options.tokenizer.encode !== 'function') {
        throw InvalidArgumentError.expected('tokenizer', "the text encoder's tokenizer (loadTokenizer())", options.tokenizer);
      }
    } else if (options.tokenizer !== undefined) {
      throw InvalidArgumentError.expected('textEncoder', 'a T5 encoder to go with the tokenizer', undefined);
    }
    if (options.cleanCaption !== undefined && typeof options.cleanCaption !== 'function') {
      throw InvalidArgumentError.expected('cleanCaption', 'a function (text) => text', options.cleanCaption);
    }
    if (options.textEncoders !== undefined) {
      const e = options.textEncoders;
      const ok = c.family === 'hunyuan-dit' && typeof e === 'object' && e !== null && e.bert instanceof TextEncoderModel && e.mt5 instanceof TextEncoderModel &&
        typeof e.bertTokenizer?.encode === 'function' && typeof e.mt5Tokenizer?.encode === 'function';
      if (!ok) throw InvalidArgumentError.expected('textEncoders', '{ bert, bertTokenizer, mt5, mt5Tokenizer } for a Hunyuan-DiT model', e);
      if (e.bert.hiddenSize !== c.text_states_dim || e.mt5.hiddenSize !== c.text_states_dim_t5) {
        throw InvalidArgumentError.expected('textEncoders', `BERT of width ${c.text_states_dim} and mT5 of width ${c.text_states_dim_t5}`, `${e.bert.hiddenSize} and ${e.mt5.hiddenSize}`);
      }
    }
    this.textEncoders = options.textEncoders;
    const sizeCond = options.sizeCond ?? [1024, 1024];
    if (!Array.isArray(sizeCond) || sizeCond.length !== 2 || !sizeCond.every((v) => Number.isInteger(v) && v > 0)) {
      throw InvalidArgumentError.expected('sizeCond', '[height, width] in pixels', options.sizeCond);
    }
    if (options.sizeCond !== undefined && !c.size_cond) throw InvalidArgumentError.expected('sizeCond', 'none (the model has no size condition: Hunyuan-DiT v1.1 only)', options.sizeCond);
    this.#sizeCond = [sizeCond[0], sizeCond[1]];
    this.textEncoder = options.textEncoder;
    this.tokenizer = options.tokenizer;
    this.#clean = options.cleanCaption;
    checkFloat32('cfgScale', options.cfgScale); // guidance runs in float32
    const textConditioned = t2v || c.family === 'hunyuan-dit';
    if (options.cfgScale !== undefined && options.cfgScale > 1 && !textConditioned && (c.num_classes === 0 || !c.class_dropout)) {
      throw InvalidArgumentError.expected('cfgScale', 'no guidance (<= 1) for a model without a null class', options.cfgScale);
    }
    this.cfgScale = options.cfgScale !== undefined && options.cfgScale > 1 ? options.cfgScale : undefined;
    const channels = options.cfgChannels ?? 'official';
    if (channels !== 'official' && channels !== 'all') throw InvalidArgumentError.expected('cfgChannels', "'official' or 'all'", channels);
    this.cfgChannels = channels;
    if (options.cache !== undefined && options.cache !== false) {
      this.#cache = model.createCache(options.cache);
      this.#policy = this.#cache.policy;
    }
  }

  get guided(): boolean {
    return this.cfgScale !== undefined;
  }

  /** Original timesteps of the steps, in call order. */
  get timesteps(): number[] {
    return this.sampler.timesteps;
  }

  /** Index of the next step (= steps completed since init). */
  get index(): number {
    return this.#index;
  }

  get done(): boolean {
    return this.#shape !== undefined && this.#index >= this.sampler.steps;
  }

  /** The shape of the sampler state (undefined before init()). */
  get latentShape(): readonly number[] | undefined {
    return this.#shape;
  }

  /**
   * A copy of the whole sampler state (2n rows when guiding: conditional rows, then unconditional). The state
   * itself stays in the model's backend memory: on CUDA, reading downloads it (once per step, then cached).
   */
  get latents(): Tensor {
    return this.#read(1);
  }

  /** Replaces the state between steps (same shape; the values are copied, and reach the backend with the next step). */
  set latents(value: Tensor) {
    this.#idle('set latents');
    const shape = this.#current('setting latents');
    const t = checkTensor(value, 'latents');
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw InvalidArgumentError.expected('latents.shape', `[${shape.join(', ')}]`, t.shape);
    }
    this.#pending = this.#snapshot = Float32Array.from(t.data);
  }

  /** The samples: the conditional half when guiding (the official samples.chunk(2)[0]), else all latents. */
  get samples(): Tensor {
    return this.#read(this.guided ? 2 : 1);
  }

  /** The Skip-Cache policy the pipeline was built with or last set (kept across dispose()). */
  get cachePolicy(): CachePolicy | undefined {
    return this.#policy;
  }

  /** Enables, changes (the state restarts) or disables (false) Skip-Cache between steps. */
  setCachePolicy(policy: false | CachePolicyInput): void {
    this.#idle('setCachePolicy');
    if (policy === false) this.#cache = undefined;
    else if (this.#cache) this.#cache.setPolicy(policy);
    else this.#cache = this.model.createCache(resolveCachePolicy(policy));
    this.#policy = this.#cache?.policy;
  }

  /** Skip-Cache statistics of the current run (since init). */
  get cacheStats(): PipelineCacheStats {
    const batch = this.#shape?.[0] ?? 0;
    let flopsExecuted = 0, blocksExecuted = 0, cachedSteps = 0;
    for (const s of this.#history) {
      flopsExecuted += s.flops;
      blocksExecuted += s.blocksExecuted;
      if (s.cached) cachedSteps++;
    }
    const calls = this.#history.length;
    const flopsUncached = calls * forwardFlops(this.#flopConfig(), batch);
    return {
      calls, fullSteps: calls - cachedSteps, cachedSteps, blocksExecuted, blocksTotal: calls * this.model.config.depth,
      flopsExecuted, flopsUncached, flopsSaved: flopsUncached - flopsExecuted,
      predictedSpeedup: flopsExecuted > 0 ? flopsUncached / flopsExecuted : 1,
    };
  }

  /** Steps done since init. */
  get history(): readonly StepInfo[] {
    return this.#history;
  }

  /** Starts a run: the initial latent, the labels, a fresh cache state. */
  init(options: InitOptions = {}): this {
    this.#idle('init');
    if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
    const c = this.model.config;
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed) || seed < 0) throw InvalidArgumentError.expected('seed', 'a non-negative integer', seed);
    const perSampleShape = sampleShape(c);
    let n: number | undefined;
    const text = this.#initText(options);
    if (text) {
      n = text.n;
      perSampleShape.splice(0, perSampleShape.length, ...text.sampleShape);
    }
    const perSample = numel(perSampleShape);

    if (c.num_classes > 0) {
      if (!options.labels || typeof options.labels.length !== 'number' || options.labels.length < 1) {
        throw InvalidArgumentError.expected('labels', 'one class label per sample', options.labels);
      }
      n = options.labels.length;
      const labels = Array.from(options.labels, Number);
      labels.forEach((v, i) => {
        if (!Number.isInteger(v) || v < 0 || v >= c.num_classes) throw InvalidArgumentError.expected(`labels[${i}]`, `a class in [0, ${c.num_classes - 1}]`, options.labels![i]);
      });
      this.#labels = this.guided ? [...labels, ...labels.map(() => c.num_classes)] : labels;
    } else {
      if (options.labels !== undefined) throw InvalidArgumentError.expected('labels', 'no labels (the model is unconditional)', options.labels);
      this.#labels = undefined;
    }

    let latents: Float32Array;
    const rows = (m: number) => (this.guided ? 2 * m : m);
    if (options.noise !== undefined) {
      const z = checkTensor(options.noise, 'noise');
      if (z.shape.length !== perSampleShape.length + 1 || z.shape.slice(1).some((d, i) => d !== perSampleShape[i])) {
        throw InvalidArgumentError.expected('noise.shape', `[n, ${perSampleShape.join(', ')}]`, z.shape);
      }
      const given = z.shape[0];
      n ??= this.guided ? given / 2 : given;
      if (given === rows(n)) latents = Float32Array.from(z.data);
      else if (this.guided && given === n) latents = concat(z.data, z.data);
      else throw InvalidArgumentError.expected('noise.shape[0]', this.guided ? `${n} (the conditional half) or ${2 * n} rows` : `${n} rows`, given);
    } else {
      n ??= options.batch ?? 1;
      if (!Number.isInteger(n) || n < 1) throw InvalidArgumentError.expected('batch', 'a positive integer', options.batch);
      const z = gaussianNoise(n * perSample, seed, 0);
      latents = this.guided ? concat(z, z) : z;
    }
    if (!Number.isInteger(n) || n < 1) throw InvalidArgumentError.expected('noise.shape[0]', 'an even number of rows when guiding', options.noise?.shape[0]);
    if (options.stepNoise !== undefined && typeof options.stepNoise !== 'function') checkTensor(options.stepNoise, 'stepNoise');
    // After dispose() the cache state is gone but not the policy: the new run gets a fresh one.
    if (this.#policy && !this.#cache) this.#cache = this.model.createCache(this.#policy);
    this.#latents?.dispose();
    this.#latents = undefined;
    this.#shape = Object.freeze([rows(n), ...perSampleShape]);
    this.#pending = this.#snapshot = latents;
    this.#seed = seed;
    this.#stepNoise = options.stepNoise;
    this.#text = text?.states;
    this.#prompts = text?.prompts;
    // v1.1: [size_cond h, size_cond w, target width, target height, 0, 0] per row (End2End.predict)
    this.#imageMeta = c.size_cond
      ? Float32Array.from({ length: 6 * rows(n) }, (_, i) => [this.#sizeCond[0], this.#sizeCond[1], 8 * perSampleShape[2], 8 * perSampleShape[1], 0, 0][i % 6])
      : undefined;
    this.#index = 0;
    if (this.sampler instanceof DPMSolverMultistepScheduler) this.sampler.reset();
    this.#history = [];
    this.#cache?.reset();
    return this;
  }

  /**
   * Text-conditioned models: the run's samples, their shape and text (states now, or prompts to encode with the
   * first step). LatteT2V: one video per prompt, frames num_frames or 1. HunyuanDiT: `batch` images per prompt of
   * `size` pixels. Other families: checks that no text option was given.
   */
  #initText(options: InitOptions): { n: number; sampleShape: number[]; states?: PipelineText; prompts?: PendingPrompts } | undefined {
    const c = this.model.config;
    const t2v = c.family === 'latte-t2v', hunyuan = c.family === 'hunyuan-dit';
    if (!t2v && !hunyuan) {
      for (const key of ['prompts', 'negativePrompt', 'text', 'negativeText', 'frames', 'size'] as const) {
        if (options[key] !== undefined) throw InvalidArgumentError.expected(key, `no ${key} (the model is ${c.family}, not text-conditioned)`, options[key]);
      }
      return undefined;
    }
    if (t2v && options.size !== undefined) throw InvalidArgumentError.expected('size', 'no size (LatteT2V samples at its input_size)', options.size);
    if (hunyuan && options.frames !== undefined) throw InvalidArgumentError.expected('frames', 'no frames (Hunyuan-DiT makes images)', options.frames);
    // LatteT2V: one video per prompt; Hunyuan-DiT: `batch` images per prompt (num_images_per_prompt)
    const perPrompt = hunyuan ? options.batch ?? 1 : 1;
    if (!Number.isInteger(perPrompt) || perPrompt < 1) throw InvalidArgumentError.expected('batch', 'a positive number of images per prompt', options.batch);
    if (t2v && options.batch !== undefined) throw InvalidArgumentError.expected('batch', 'no batch (one video per prompt)', options.batch);
    const shape = t2v ? this.#videoShape(options.frames) : this.#imageShape(options.size);
    if ((options.prompts === undefined) === (options.text === undefined)) {
      throw InvalidArgumentError.expected('prompts', 'either prompts (strings) or text (precomputed states), not both', options.prompts === undefined ? 'neither' : 'both');
    }
    if (options.prompts !== undefined) {
      const prompts = options.prompts;
      if (!Array.isArray(prompts) || prompts.length === 0) throw InvalidArgumentError.expected('prompts', 'a non-empty array of strings', prompts);
      prompts.forEach((p, i) => {
        if (typeof p !== 'string') throw InvalidArgumentError.expected(`prompts[${i}]`, 'a string', p);
      });
      if (options.negativePrompt !== undefined && typeof options.negativePrompt !== 'string') throw InvalidArgumentError.expected('negativePrompt', 'a string', options.negativePrompt);
      if (options.negativeText !== undefined) throw InvalidArgumentError.expected('negativeText', 'no states with prompts (use negativePrompt)', 'negativeText');
      if (t2v && !this.textEncoder) throw InvalidArgumentError.expected('textEncoder', 'a T5 encoder and tokenizer in the Pipeline options to encode prompts (or pass init({ text }))', undefined);
      if (hunyuan && !this.textEncoders) throw InvalidArgumentError.expected('textEncoders', 'the BERT and mT5 encoders and tokenizers in the Pipeline options to encode prompts (or pass init({ text }))', undefined);
      // the official negative prompts: '' (Latte t2v), hydit.constants.NEGATIVE_PROMPT (Hunyuan-DiT)
      const negative = this.guided ? options.negativePrompt ?? (hunyuan ? HUNYUAN_NEGATIVE_PROMPT : '') : undefined;
      return { n: prompts.length * perPrompt, sampleShape: shape, prompts: { prompts: [...prompts], negative, perPrompt } };
    }
    if (options.negativePrompt !== undefined) throw InvalidArgumentError.expected('negativePrompt', 'no negative prompt with precomputed text (use negativeText)', options.negativePrompt);
    if (this.guided && options.negativeText === undefined) {
      throw InvalidArgumentError.expected('negativeText', "the negative prompt's states (one per prompt) when guiding", undefined);
    }
    if (!this.guided && options.negativeText !== undefined) throw InvalidArgumentError.expected('negativeText', 'no negative states without guidance (cfgScale <= 1)', 'negativeText');
    const states = t2v
      ? officialTextStates(options.text as PromptStates[], options.negativeText as PromptStates[] | undefined, c.caption_channels!) // set for every LatteT2V config
      : hunyuanTextRows(options.text as HunyuanPromptStates[], options.negativeText as HunyuanPromptStates[] | undefined, perPrompt, this.#hunyuanSizes());
    return { n: options.text!.length * perPrompt, sampleShape: shape, states };
  }

  /** LatteT2V: (C, F, H, W) with F the model's num_frames or 1 (an image, as video_length 1). */
  #videoShape(frames: number | undefined): number[] {
    const c = this.model.config;
    const F = frames ?? c.num_frames;
    if (F !== c.num_frames && F !== 1) throw InvalidArgumentError.expected('frames', `${c.num_frames} (the model's temporal embedding) or 1 (an image)`, frames);
    return [c.in_channels, F, c.input_size, c.input_size];
  }

  /** HunyuanDiT: (C, H/8, W/8) for an image of [H, W] pixels, multiples of 16 (default: input_size x 8). */
  #imageShape(size: [number, number] | undefined): number[] {
    const c = this.model.config;
    const [H, W] = size ?? [8 * c.input_size, 8 * c.input_size];
    const unit = 8 * c.patch_size;
    if (!Array.isArray(size ?? [H, W]) || ![H, W].every((v) => Number.isInteger(v) && v >= unit && v % unit === 0 && v <= 8192)) {
      throw InvalidArgumentError.expected('size', `[height, width] in pixels, multiples of ${unit} in [${unit}, 8192]`, size);
    }
    return [c.in_channels, H / 8, W / 8];
  }

  #hunyuanSizes(): HunyuanTextSizes {
    const c = this.model.config;
    return [[c.text_len!, c.text_states_dim!], [c.text_len_t5!, c.text_states_dim_t5!]];
  }

  /** The config whose FLOPs this run's calls have: a LatteT2V run of one frame (an image) has num_frames 1. */
  #flopConfig(): ModelConfig {
    const c = this.model.config;
    const frames = c.family === 'latte-t2v' ? this.#shape?.[2] : undefined;
    return frames !== undefined && frames !== c.num_frames ? { ...c, num_frames: frames } : c;
  }

  /** Text-conditioned models: the text rows of the run, encoding the prompts on first use. */
  async #textStates(signal: AbortSignal | undefined): Promise<{ text?: PipelineText; encodeMs?: number }> {
    if (this.#text || !this.#prompts) return { text: this.#text };
    const start = performance.now();
    const { prompts, negative, perPrompt } = this.#prompts;
    if (this.model.config.family === 'hunyuan-dit') {
      const sizes = this.#hunyuanSizes();
      const encoded = await encodeHunyuanPrompts(this.textEncoders!, negative === undefined ? prompts : [...prompts, negative], sizes, signal);
      const negatives = negative === undefined ? undefined : prompts.map(() => encoded[prompts.length]);
      this.#text = hunyuanTextRows(encoded.slice(0, prompts.length), negatives, perPrompt, sizes);
    } else {
      const encoded = await encodeT2VPrompts(this.textEncoder!, this.tokenizer!, prompts, negative, { signal, clean: this.#clean });
      this.#text = officialTextStates(encoded.prompts, encoded.negatives, this.model.config.caption_channels!);
    }
    this.#prompts = undefined;
    return { text: this.#text, encodeMs: performance.now() - start };
  }


  /**
   * Runs the next step: one model call (batched cond+uncond when guiding) and the sampler update, both in the
   * model's backend (model.sampleStep): on CUDA the latents do not leave the device. `signal` stops the step
   * between transformer blocks (AbortError); a stopped step changes nothing (index, latents, cache state).
   * The first step after init() (or after setting pipe.latents) first uploads the values. DPM-Solver++ updates on the
   * host: its state stays there and is never uploaded.
   */
  async step(options: { forceFull?: boolean; signal?: AbortSignal } = {}): Promise<StepInfo> {
    this.#idle('step');
    const shape = this.#current('step');
    if (this.done) throw new InvalidArgumentError(`Expected a step index below ${this.sampler.steps} but the run is finished (call init() to start again)`);
    this.#busy = true;
    try {
      const { text, encodeMs } = await this.#textStates(options.signal);
      const hostUpdate = this.sampler instanceof DPMSolverMultistepScheduler;
      const latents = hostUpdate ? undefined : await this.#upload(options.signal);
      const start = performance.now();
      const j = this.#index;
      const t = this.sampler.timesteps[j];
      const n = numel(shape);
      const guidance = this.guided ? { cfgScale: this.cfgScale!, cfgChannels: this.cfgChannels === 'all' ? ('eps' as const) : undefined } : {};
      const cacheOptions = this.#cache ? { cache: this.#cache, forceFull: options.forceFull === true } : {};
      const conditions = { t, y: this.#labels, text, imageMetaSize: this.#imageMeta, ...guidance };
      let out: { cached: boolean; blocksExecuted: number; graph: boolean; drift?: number; accumulatedDrift?: number };
      if (this.sampler instanceof DPMSolverMultistepScheduler) {
        // On the host: the model's output, its noise (or v) channels, the multistep update. The state is #snapshot
        // (set by init(), the latents setter and every such step).
        const x = this.#snapshot!;
        const input = { x: { data: x, shape: [...shape] }, ...conditions };
        const result = this.guided ? await this.model.forwardWithCfg(input as CfgInput, { ...cacheOptions, signal: options.signal }) : await this.model.forward(input, { ...cacheOptions, signal: options.signal });
        const next = this.sampler.step(noiseChannels(result, this.model.config), x);
        this.#pending = this.#snapshot = next;
        out = result;
      } else {
        const noise = this.sampler.needsNoise(j) ? this.#noiseFor(j, n) : undefined;
        this.#snapshot = undefined;
        out = await this.model.sampleStep(latents!, conditions, this.sampler.coefficients(j), { ...cacheOptions, noise, signal: options.signal });
      }
      this.#index = j + 1;
      const info: StepInfo = {
        index: j, timestep: t, cached: out.cached, blocksExecuted: out.blocksExecuted,
        flops: callFlops(this.#flopConfig(), shape[0], out.blocksExecuted), ms: performance.now() - start, graph: out.graph,
        ...(encodeMs === undefined ? {} : { encodeMs }),
        ...(out.drift === undefined ? {} : { drift: out.drift }),
        ...(out.accumulatedDrift === undefined ? {} : { accumulatedDrift: out.accumulatedDrift }),
      };
      this.#history.push(info);
      return info;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Runs the remaining steps and returns the samples. On abort the step in flight stops at its next block (or
   * completes, if it was past the last one), then AbortError is thrown: the pipeline stays consistent (latents
   * after the last completed step) and can continue with run()/step() or restart with init().
   */
  async run(options: RunOptions = {}): Promise<Tensor> {
    const { signal, onStep } = options;
    checkSignal(signal, 'signal');
    if (onStep !== undefined && typeof onStep !== 'function') throw InvalidArgumentError.expected('onStep', 'a function', onStep);
    const aborted = () => new AbortError(`Sampling aborted after ${this.#index} of ${this.sampler.steps} steps`, { cause: signal?.reason });
    while (!this.done) {
      if (signal?.aborted) throw aborted();
      const info = await this.step({ signal }).catch((err: unknown) => {
        throw err instanceof AbortError ? aborted() : err;
      });
      await onStep?.(info, this);
    }
    // Downloaded on the compute lane: another call of this model (a second pipeline) may be running now. (Without
    // a snapshot the latents are in the backend: the snapshot is only dropped by a step.)
    this.#current('run');
    this.#snapshot ??= (await this.#latents!.readAsync()).data;
    return this.samples;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StepInfo> {
    while (!this.done) yield await this.step();
  }

  /**
   * Releases the run's latents and cache state now (the model is not disposed). The options and the cache
   * policy are kept: init() starts a new run with them.
   */
  dispose(): void {
    this.#cache = undefined;
    this.#latents?.dispose();
    this.#latents = undefined;
    this.#shape = undefined;
    this.#pending = undefined;
    this.#snapshot = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #idle(what: string): void {
    if (this.#busy) throw new InvalidArgumentError(`Expected no step in progress for ${what} but a step is running`);
  }

  /** A copy of the first 1/parts of the rows of the state (the snapshot is downloaded once per step). */
  #read(parts: number): Tensor {
    this.#idle('reading latents');
    const shape = this.#current('reading latents');
    this.#snapshot ??= this.#latents!.read().data; // no snapshot: a step has run, so the latents are in the backend
    const rows = shape[0] / parts;
    return { data: this.#snapshot.slice(0, this.#snapshot.length / parts), shape: [rows, ...shape.slice(1)] };
  }

  /** The shape of the state, or a typed error before init(). */
  #current(what: string): readonly number[] {
    if (!this.#shape) throw new InvalidArgumentError(`Expected init() before ${what}`);
    return this.#shape;
  }

  /** The latents in the backend, with the values of init() or of the latents setter put there first. */
  async #upload(signal: AbortSignal | undefined): Promise<Latents> {
    const values = this.#pending;
    const shape = this.#shape!;
    if (values) {
      if (this.#latents) {
        await this.#latents.writeAsync({ data: values, shape: [...shape] }, { signal });
      } else {
        const created = await this.model.createLatents({ data: values, shape: [...shape] }, { signal });
        if (this.#shape !== shape) { // dispose() while it was created: the run is gone
          created.dispose();
          throw new DisposedError('The pipeline run');
        }
        this.#latents = created;
      }
      if (this.#pending === values) this.#pending = undefined;
    }
    if (!this.#latents) throw new DisposedError('The pipeline run');
    return this.#latents;
  }

  #noiseFor(j: number, n: number): Float32Array {
    // Text-conditioned runs keep [uncond, cond] copies of the same latents (the official state is n rows, run as
    // cat([latents, latents])): one noise draw of the n rows serves both halves.
    const family = this.model.config.family;
    if (this.guided && (family === 'hunyuan-dit' || family === 'latte-t2v')) {
      const half = this.#noiseRows(j, n / 2);
      return concat(half, half);
    }
    return this.#noiseRows(j, n);
  }

  #noiseRows(j: number, n: number): Float32Array {
    const src = this.#stepNoise;
    if (src === undefined) return gaussianNoise(n, this.#seed, j + 1);
    if (typeof src === 'function') {
      const v = src(j);
      const data = v instanceof Float32Array ? v : (v as Tensor)?.data;
      if (!(data instanceof Float32Array) || data.length !== n) throw InvalidArgumentError.expected(`stepNoise(${j})`, `${n} float32 values`, describe(v));
      return data;
    }
    const per = src.data.length / src.shape[0];
    if (per !== n || src.shape[0] < this.sampler.steps) {
      const shape = this.#current('step');
      throw InvalidArgumentError.expected('stepNoise.shape', `[${this.sampler.steps}, ${n / numel(shape.slice(1))}, ${shape.slice(1).join(', ')}]`, src.shape);
    }
    return src.data.subarray(j * n, (j + 1) * n);
  }
}

/** DPM-Solver++ for a family: diffusers' config of its official scheduler (betas, prediction type). */
function dpmSolverFor(c: Model['config'], steps: number, options: PipelineOptions): DPMSolverMultistepScheduler {
  const hunyuan = c.family === 'hunyuan-dit';
  return new DPMSolverMultistepScheduler(steps, {
    ...(hunyuan ? hunyuanBetas(c.size_cond === true || c.style_cond === true) : {}),
    timestepSpacing: options.timestepSpacing ?? 'linspace', useKarrasSigmas: options.karras ?? false,
  });
}

/** The noise (or v) channels of a model output: the first in_channels of its channel axis (a learned-sigma model's other half is the variance). */
export function noiseChannels(out: Tensor, c: Model['config']): Float32Array {
  const axis = c.family === 'latte' ? 2 : 1; // Latte (B, F, C, H, W); DiT, LatteT2V (B, C, F, H, W), Hunyuan (B, C, H, W)
  const channels = out.shape[axis];
  if (channels === c.in_channels) return out.data;
  const outer = out.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = out.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const eps = new Float32Array(outer * c.in_channels * inner);
  for (let o = 0; o < outer; o++) eps.set(out.data.subarray(o * channels * inner, (o * channels + c.in_channels) * inner), o * c.in_channels * inner);
  return eps;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** LatteT2V's sampler: diffusers' DDIMScheduler with eta 0 (the official text-to-video sampling). */
function textToVideoScheduler(options: PipelineOptions, steps: number | string): DiffusersDDIMScheduler {
  if ((options.sampler ?? 'ddim') !== 'ddim') throw InvalidArgumentError.expected('sampler', "'ddim' (LatteT2V samples with diffusers' DDIMScheduler)", options.sampler);
  if (options.eta !== undefined && options.eta !== 0) throw InvalidArgumentError.expected('eta', '0 (the text-to-video pipeline is deterministic)', options.eta);
  if (options.variance !== undefined) throw InvalidArgumentError.expected('variance', 'no variance (DDIM only)', options.variance);
  if (typeof steps !== 'number') throw InvalidArgumentError.expected('steps', 'a number of DDIM steps (no respacing string for LatteT2V)', steps);
  return new DiffusersDDIMScheduler(steps, {
    timestepSpacing: options.timestepSpacing, stepsOffset: options.stepsOffset, setAlphaToOne: options.setAlphaToOne, clipSample: options.clipSample,
  });
}

/**
 * Hunyuan-DiT's samplers (hydit SAMPLER_FACTORY, sample_t2i.py): 'ddpm' (default) = diffusers' DDPMScheduler,
 * 'ddim' = DDIMScheduler (eta 0), both v-prediction, scaled_linear betas 0.00085..0.02, leading spacing, steps_offset 1.
 */
/** Hunyuan-DiT's noise schedule and prediction type (its sample_t2i.py; v1.1 runs with --beta-end 0.03). */
function hunyuanBetas(v11: boolean) {
  return { betaSchedule: 'scaled_linear' as const, betaStart: 0.00085, betaEnd: v11 ? 0.03 : 0.02, predictionType: 'v_prediction' as const };
}

function hunyuanScheduler(options: PipelineOptions, steps: number | string, v11: boolean): DiffusersDDPMScheduler | DiffusersDDIMScheduler {
  const name = options.sampler ?? 'ddpm';
  if (name !== 'ddpm' && name !== 'ddim') throw InvalidArgumentError.expected('sampler', "'ddpm' or 'ddim'", name);
  if (options.eta !== undefined && options.eta !== 0) throw InvalidArgumentError.expected('eta', '0 (the pipeline runs DDIM with eta 0)', options.eta);
  if (options.variance !== undefined) throw InvalidArgumentError.expected('variance', "no variance (DDPMScheduler's fixed_small)", options.variance);
  if (typeof steps !== 'number') throw InvalidArgumentError.expected('steps', 'a number of steps (no respacing string for Hunyuan-DiT)', steps);
  const config = {
    ...hunyuanBetas(v11), clipSample: options.clipSample ?? false,
    timestepSpacing: options.timestepSpacing ?? 'leading', stepsOffset: options.stepsOffset ?? 1,
  };
  return name === 'ddpm' ? new DiffusersDDPMScheduler(steps, config) : new DiffusersDDIMScheduler(steps, { ...config, setAlphaToOne: options.setAlphaToOne });
}
