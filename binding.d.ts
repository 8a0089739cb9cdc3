// Types of the native module (build/Release/skipdit.node), one place for the whole N-API surface.
// The C++ side: bindings/addon.cc (free functions), bindings/native_model.cc (NativeModel), each wrapped piece
// in its own file. test/binding.test.ts checks that the runtime exports match these names. The entry points
// that exist only for tests (runKernel, runOp, ...) are not here: they are in a separate test addon
// (test/hooks/, typed in test/helpers/test-native.ts) that is never shipped.

/** Architecture in the official constructor argument names, plus the graph family and skip flag. */
export interface NativeModelConfig {
  family: 'dit' | 'latte' | 'latte-t2v' | 'hunyuan-dit';
  skip: boolean;
  input_size: number;
  patch_size: number;
  in_channels: number;
  hidden_size: number;
  depth: number;
  num_heads: number;
  mlp_ratio: number;
  /** 0: unconditional (Latte extras=1). */
  num_classes: number;
  /** The label table has a null row (num_classes + 1 rows), as with class_dropout_prob > 0. */
  class_dropout: boolean;
  learn_sigma: boolean;
  /** Latte: frames; LatteT2V: video_length (the temporal position table's length). */
  num_frames: number;
  /** LatteT2V only: the text states' width (caption_channels); cross_attention_dim = hidden_size. */
  caption_channels?: number;
  /** HunyuanDiT only: BERT states text_len x text_states_dim (77 x 1024) and mT5 states text_len_t5 x text_states_dim_t5 (256 x 2048). */
  text_states_dim?: number;
  text_len?: number;
  text_states_dim_t5?: number;
  text_len_t5?: number;
  /** HunyuanDiT v1.1: the image size condition and the style embedding in the conditioning vector. */
  size_cond?: boolean;
  style_cond?: boolean;
}

export interface NativeTensor {
  data: Float32Array;
  shape: number[];
}

export interface NativeForwardOptions {
  /** Record intermediate tensors (t_freq, t_emb, y_emb, tokens, blocks_out/spatial_out/temporal_out, skip_fused, final_tokens, cfg_raw). */
  taps?: boolean;
  /** With cfgScale: the official forward_with_cfg (first half of x run twice, guidance on cfgChannels). */
  cfgScale?: number;
  cfgChannels?: number;
  /** Advance this Skip-Cache state by one call (cached steps skip the middle blocks). */
  cache?: NativeCache;
  /** With a cache: run every block on this call. */
  forceFull?: boolean;
  /** Stops the call between transformer blocks once aborted (the call then changes nothing: cache, latents). */
  abort?: NativeAbortFlag;
  /**
   * LatteT2V: the text states (B, L, caption_channels) and an optional (B, L) mask (1 keep / 0 drop).
   * HunyuanDiT: the BERT states (B, text_len, text_states_dim) and their tokenizer mask (required).
   */
  text?: NativeTensor;
  textMask?: NativeTensor;
  /** HunyuanDiT: the mT5 states (B, text_len_t5, text_states_dim_t5) and their tokenizer mask (both required). */
  textT5?: NativeTensor;
  textT5Mask?: NativeTensor;
  /** HunyuanDiT v1.1 (size_cond): image_meta_size (B, 6) per row. */
  imageMeta?: NativeTensor;
}

/** Set by abort(); the worker checks it between units of work and rejects with code SKIPDIT_ABORTED. */
export declare class NativeAbortFlag {
  constructor();
  abort(): void;
  get aborted(): boolean;
}

export interface NativeForwardResult extends NativeTensor {
  taps?: Record<string, NativeTensor>;
  /** The call was a cached (partial) step. */
  cached: boolean;
  /** Transformer blocks that ran (depth on a full step). */
  blocksExecuted: number;
  /** The call ran as a recorded CUDA graph (captured now or replayed). */
  graph: boolean;
  /** With a measuring cache: the shallow output's relative change from the previous call (absent on a run's first call). */
  drift?: number;
  /** With an adaptive cache: the drift accumulated over the cached calls since the last full one, after this call. */
  accumulated?: number;
}

/** Skip-Cache policy (native/model/skip_cache.h). */
export interface NativeCachePolicy {
  /** N: a full step every N model calls. */
  interval: number;
  /** k: blocks (DiT) or spatial+temporal pairs (Latte) kept at each end on a cached step. */
  branch: number;
  /** Calls with t >= start are always full. */
  start: number;
  /** After a call with t <= stop (t < stop when !stopInclusive) the state resets (count 0, no feature). */
  stop: number;
  stopInclusive: boolean;
  /**
   * The official `feature is None` test (false: Hunyuan's rule, which has none). The feature is empty only when
   * the counter is 0, which already forces a full step, so both settings give the same schedule.
   */
  fullWhenEmpty: boolean;
  /**
   * Copy the shallow units' output into a probe on every call and report its relative L1 change from the previous
   * call as the result's `drift` (what an adaptive policy decides from). Default false: the fixed rule's graphs.
   */
  measure?: boolean;
  /**
   * Adaptive (with measure): a call that the rule above does not make full runs the shallow units, measures their
   * drift, and runs the middle units only if the drift accumulated over the cached calls since the last full one,
   * plus this call's, reaches `threshold`, or after `maxSkip` cached calls in a row. Both present or both absent.
   */
  threshold?: number;
  maxSkip?: number;
}

export interface NativeCacheStats {
  calls: number;
  fullSteps: number;
  cachedSteps: number;
  blocksExecuted: number;
  blocksTotal: number;
  /** The state: calls since the last reset, and whether a feature is saved. */
  count: number;
  hasFeature: boolean;
}

/** A Skip-Cache state (bindings/native_cache.cc), created by NativeModel.createCache. */
export declare class NativeCache {
  private constructor();
  stats(): NativeCacheStats;
  policy(): NativeCachePolicy;
  setPolicy(policy: NativeCachePolicy): void;
  reset(): void;
}

/**
 * The per-step float32 scalars of a sampler update (lib/samplers.ts `coefficients()`; native SamplerUpdate in
 * native/backend/backend.h, which does the elementwise part). Both start from
 * x0 = sqrtRecipAlphasCumprod * x - sqrtRecipm1AlphasCumprod * eps.
 */
export type NativeSamplerUpdate =
  | {
      kind: 'ddim';
      sqrtRecipAlphasCumprod: number;
      sqrtRecipm1AlphasCumprod: number;
      sqrtAlphasCumprodPrev: number;
      /** sqrt(1 - abar_prev - sigma^2). */
      dirCoef: number;
      /** sigma, 0 on the last step: the noise term is added when non-zero. */
      noiseScale: number;
    }
  | {
      kind: 'ddpm';
      sqrtRecipAlphasCumprod: number;
      sqrtRecipm1AlphasCumprod: number;
      meanCoef1: number;
      meanCoef2: number;
      /** learned_range interpolates between the clipped posterior log-variance and log(beta). */
      minLog: number;
      maxLog: number;
      /** The fixed log-variance (fixed_large / fixed_small). */
      fixedLog: number;
      learnedRange: boolean;
      /** The last step adds no noise. */
      last: boolean;
    }
  | {
      /**
       * diffusers' DDIMScheduler.step, eta 0 (the text-to-video pipeline; lib/schedulers.ts): epsilon
       * x0 = (x - sqrtOneMinusAlphaT·eps) / sqrtAlphaT; v_prediction x0 = sqrtAlphaT·x - sqrtOneMinusAlphaT·v,
       * eps = sqrtAlphaT·v + sqrtOneMinusAlphaT·x; x' = sqrtAlphaPrev·x0 + sqrtOneMinusAlphaPrev·eps.
       */
      kind: 'ddim-diffusers';
      /** Default 'epsilon'. */
      predictionType?: 'epsilon' | 'v_prediction';
      sqrtAlphaT: number;
      sqrtOneMinusAlphaT: number;
      sqrtAlphaPrev: number;
      sqrtOneMinusAlphaPrev: number;
      /** clip_sample: x0 clamped to [-clipRange, clipRange]; 0 = no clipping. */
      clipRange: number;
    }
  | {
      /**
       * diffusers' DDPMScheduler.step, fixed_small (Hunyuan-DiT's default sampler; lib/schedulers.ts): x0 as
       * 'ddim-diffusers', mean = predOriginalSampleCoeff·x0 + currentSampleCoeff·x, x' = mean + stdDev·noise.
       */
      kind: 'ddpm-diffusers';
      /** Default 'epsilon'. */
      predictionType?: 'epsilon' | 'v_prediction';
      sqrtAlphaT: number;
      sqrtOneMinusAlphaT: number;
      predOriginalSampleCoeff: number;
      currentSampleCoeff: number;
      /** sqrt of the clamped posterior variance. */
      stdDev: number;
      /** t > 0: the noise term is added (the noise tensor is read); otherwise x' = mean + 0. */
      addNoise: boolean;
      /** clip_sample: x0 clamped to [-clipRange, clipRange]; 0 = no clipping. */
      clipRange: number;
    };

export interface NativeSampleStepOptions {
  update: NativeSamplerUpdate;
  /** Per-step noise, like the latents (read when the update adds noise). */
  noise?: Float32Array;
  cfgScale?: number;
  cfgChannels?: number;
  cache?: NativeCache;
  forceFull?: boolean;
  /** Stops the step between transformer blocks once aborted; a stopped step changes nothing. */
  abort?: NativeAbortFlag;
  /** LatteT2V: the text states of the call's rows, and optionally their mask (as forward()). */
  text?: { data: Float32Array; shape: number[] };
  textMask?: { data: Float32Array; shape: number[] };
  textT5?: { data: Float32Array; shape: number[] };
  textT5Mask?: { data: Float32Array; shape: number[] };
  imageMeta?: { data: Float32Array; shape: number[] };
}

export interface NativeStepReport {
  cached: boolean;
  blocksExecuted: number;
  graph: boolean;
  drift?: number;
  accumulated?: number;
}

/** Latents in a model's backend memory (bindings/native_latents.cc), created by NativeModel.createLatents. */
export declare class NativeLatents {
  private constructor();
  /** A host copy, on the JS thread; SKIPDIT_INVALID_ARGUMENT at once while the model's lock is held (never waits). */
  read(): Float32Array;
  /** Replaces the values, on the JS thread; fails at once like read() while the model's lock is held. */
  write(data: Float32Array): void;
  /** read() on a pool thread, which waits for the model's lock. */
  readAsync(): Promise<Float32Array>;
  /** write() on a pool thread (`data` is copied at the call). */
  writeAsync(data: Float32Array): Promise<void>;
  shape(): number[];
  dispose(): void;
}

export interface NativeModelInfo {
  config: NativeModelConfig;
  backend: string;
  weightBytes: number;
  workspaceBytes: number;
}

export declare class NativeModel {
  private constructor();
  forward(
    x: Float32Array,
    xShape: number[],
    t: Float32Array,
    y: Int32Array | BigInt64Array | null,
    options: NativeForwardOptions,
  ): Promise<NativeForwardResult>;
  /** Latents of this shape in the model's backend memory (device memory on CUDA), uploaded on a pool thread. */
  createLatents(data: Float32Array, shape: number[]): Promise<NativeLatents>;
  /**
   * One sampling step on `latents`, updated in place: the forward (forward_with_cfg with cfgScale), then the
   * sampler update. Nothing is downloaded.
   */
  sampleStep(latents: NativeLatents, t: Float32Array, y: Int32Array | null, options: NativeSampleStepOptions): Promise<NativeStepReport>;
  info(): NativeModelInfo;
  createCache(policy: NativeCachePolicy): NativeCache;
  /**
   * Per-op counts, wall time and FLOPs since load or the last reset (native/backend/profiling_backend.h);
   * null unless loaded with `profile: true`. `reset` clears them after reading.
   */
  profile(reset?: boolean): NativeProfile | null;
  dispose(): void;
}

/** One backend op in a profile: calls, summed wall seconds, FLOPs (0 where not counted: elementwise ops). */
export interface NativeOpProfile {
  op: string;
  calls: number;
  seconds: number;
  flops: number;
}

export interface NativeProfile {
  /** The profiled (inner) backend. */
  backend: string;
  ops: NativeOpProfile[];
}

/** The decoder fields of a diffusers AutoencoderKL config (bindings/native_vae.cc). */
export interface NativeVaeConfig {
  latent_channels: number;
  out_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  norm_num_groups: number;
  mid_block_add_attention: boolean;
  /** AutoencoderKLTemporalDecoder (SVD): norm_num_groups 32, spatio-temporal resnets, time_conv_out; no post_quant_conv. */
  temporal?: boolean;
}

export declare class NativeVae {
  private constructor();
  /**
   * vae.decode(z).sample of z (B, latent_channels, h, w), `chunk` images at a time; taps: post_quant_conv, conv_in, mid_*,
   * up_block*, norm_out_act (temporal: also mid_resnet0_spatial, mid_resnet0_temporal, conv_out; no post_quant_conv).
   * onProgress counts blocks: per chunk the mid block and each up block. Temporal decoder: each chunk is one
   * decode(z_chunk, num_frames) call, num_frames = `frames` (dividing the chunk and B) or, 0 / absent, the chunk's rows.
   */
  decode(
    z: Float32Array,
    shape: number[],
    options: { chunk?: number; frames?: number; taps?: boolean; abort?: NativeAbortFlag; onProgress?: NativeProgressCallback },
  ): Promise<NativeTensor & { taps?: Record<string, NativeTensor> }>;
  info(): { layout: string; weightBytes: number };
  dispose(): void;
}

/** A text encoder's architecture (bindings/native_text_encoder.cc; lib/text-encoder.ts maps config.json to it). */
export interface NativeTextEncoderConfig {
  family: 't5' | 'bert';
  vocab_size: number;
  /** T5 d_model, BERT hidden_size. */
  hidden_size: number;
  num_layers: number;
  num_heads: number;
  /** T5 d_kv, BERT hidden_size / num_heads. */
  head_dim: number;
  /** T5 d_ff, BERT intermediate_size. */
  ff_size: number;
  /** T5 layer_norm_epsilon, BERT layer_norm_eps. */
  eps: number;
  /** T5: relative_attention_num_buckets / relative_attention_max_distance. */
  relative_buckets?: number;
  relative_max_distance?: number;
  /** BERT: max_position_embeddings / type_vocab_size. */
  max_positions?: number;
  type_vocab_size?: number;
}

/** A T5 / BERT text encoder (native/text/text_encoder.h), created by loadTextEncoder. */
export declare class NativeTextEncoder {
  private constructor();
  /**
   * last_hidden_state (B, L, D) of ids (B, L) in [0, vocab) and a 0 / 1 mask (null: all ones), on a worker thread.
   * taps: embedding, layer_out (stacked), T5's attn_residual (stacked) and position_bias.
   */
  forward(
    ids: Int32Array,
    shape: number[],
    mask: Float32Array | null,
    options: { taps?: boolean; abort?: NativeAbortFlag },
  ): Promise<NativeTensor & { taps?: Record<string, NativeTensor> }>;
  info(): { config: NativeTextEncoderConfig; backend: string; dtype: NativeDType; weightBytes: number; workspaceBytes: number };
  dispose(): void;
}

export interface NativeCpuBackendInfo {
  name: 'cpu';
  available: true;
  threads: number;
  /** GEMM micro-kernel picked at run time: 'avx512', 'avx2' or 'portable' (SKIPDIT_CPU_ISA caps it). */
  gemm: string;
  /** Kernel for bfloat16 weights: 'avx512bf16' (bf16 dot products, activations rounded to bf16), or 'avx2' /
   * 'portable' (weights widened to float32). */
  gemmBf16: string;
}

export interface NativeCudaDeviceInfo {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

export interface NativeCudaBackendInfo {
  name: 'cuda';
  /** Built with nvcc. */
  compiled: boolean;
  /** A device and driver answered (the device layer works). */
  deviceAvailable: boolean;
  /** A model can run on this backend. */
  available: boolean;
  reason?: string;
  driverVersion: number;
  runtimeVersion: number;
  architectures: string[];
  devices: NativeCudaDeviceInfo[];
}

/** A weights file as bindings/checkpoint_wrap.cc describes it. */
export interface NativeCheckpointInfo {
  format: 'safetensors' | 'torch-zip';
  /** Tensors of the picked state dict (stored dtype, shape). */
  tensors: Record<string, { dtype: string; shape: number[] }>;
  /** safetensors __metadata__ ({} for torch files). */
  metadata: Record<string, string>;
  /** torch files: which state dict was used ('ema', 'model', 'root', ...), the top-level keys holding one, the archive folder. */
  picked?: string;
  candidates?: string[];
  rootFolder?: string;
  /** torch files: a bounded, never-executed view of the other top-level entries (args, opt, epoch...). */
  extras?: Record<string, unknown>;
}

/** Options of a Hugging Face model folder's weights (native/checkpoint/weight_folder.h WeightFolderSpec). */
export interface NativeWeightFolderOptions {
  /** Groups of names of one tied tensor: exposed under the group's first name, read from the first name present. */
  aliases?: string[][];
  /** Tensors whose name starts with one of these are dropped, never read (shards holding only such are not opened). */
  ignorePrefixes?: string[];
  /** Follow symlinks that resolve outside the folder (and outside a huggingface_hub cache's blobs/). */
  allowExternalLinks?: boolean;
}

/** A model folder's weights as bindings/weight_folder_wrap.cc describes them. */
export interface NativeWeightFolderInfo {
  /** The folder, resolved. */
  dir: string;
  layout: 'safetensors' | 'safetensors-index' | 'torch-bin' | 'torch-bin-index';
  format: 'safetensors' | 'torch-zip';
  /** The index file name, or null for a single file. */
  index: string | null;
  /** [key, value] pairs: the index's "metadata" (numbers as text), or the single safetensors file's __metadata__. */
  metadata: Array<[string, string]>;
  files: Array<{
    name: string;
    /** Resolved path ('' when absent). */
    path: string;
    present: boolean;
    /** Mapped and parsed (false for a shard holding only ignored tensors). */
    opened: boolean;
    symlink: boolean;
    bytes: number;
    /** Tensors the file holds (opened) or that the index maps to it (not opened). */
    tensors: number;
    /** Tensors the source exposes from it. */
    used: number;
  }>;
  /** The exposed tensors, in file order: stored dtype, shape, bytes, file; `stored` when read under another name (an alias), `duplicates`: the other names of its alias group present. */
  tensors: Array<{ name: string; dtype: string; shape: number[]; bytes: number; file: string; stored?: string; duplicates?: string[] }>;
  /** Bytes of the exposed tensors, as stored. */
  totalBytes: number;
  /** Names dropped by ignorePrefixes (sorted). */
  ignored: string[];
  /** Bytes of the ignored tensors in opened files. */
  ignoredBytes: number;
}

export type NativeDType = 'float32' | 'bfloat16' | 'float16';

export interface NativeLoadOptions {
  backend: 'cpu' | 'cuda';
  dtype?: NativeDType;
  key?: string;
  /** Wrap the backend in the op profiler (NativeModel.profile()). */
  profile?: boolean;
  /** Workspace bytes kept between calls (default 1 GiB); more is released after the call. */
  workspaceRetain?: number;
  /** Workspace bytes one call may use (default 0: no cap). */
  workspaceMax?: number;
  /** Stops the load between tensors. */
  abort?: NativeAbortFlag;
  /** Called with (tensors bound, tensors in the file). */
  onProgress?: NativeProgressCallback;
}

/**
 * Progress of a worker, (units done, total): called on the JS thread through a thread-safe function, at most every
 * 50 ms, and with done === total before the call's promise resolves (bindings/progress.h). Reports still queued
 * when a call fails may come after its rejection. What it throws is swallowed natively: lib/progress.ts wraps it.
 */
export type NativeProgressCallback = (done: number, total: number) => void;

/** describeModel(): a config's structure and costs at a batch size, without weights (native/model/family.h). */
export interface NativeModelDescription {
  /** Every parameter: official state_dict name and shape (embedders, blocks, skips, final layer). */
  params: Array<{ name: string; shape: number[]; linear: boolean }>;
  /**
   * FLOPs (multiply-add = 2) of each named block of a full forward, in execution order: x_embedder, t_embedder,
   * y_embedder, blocks.i, skip_linears.j, skip_cache, final_layer.
   */
  blocks: Array<{ name: string; flops: number }>;
  /** The long skips: [block whose output is pushed, block that fuses it first]. */
  skipPairs: Array<[number, number]>;
  /** Transformer blocks per Skip-Cache unit: DiT 1 (a block), Latte 2 (a spatial + temporal pair). */
  unitBlocks: number;
  /** FLOPs of a full forward. */
  flops: number;
  /** Every Skip-Cache branch k (units kept at each end): the blocks a cached call runs and its FLOPs. */
  cached: Array<{ branch: number; blocksExecuted: number; flops: number }>;
}

export interface NativeBinding {
  NativeModel: typeof NativeModel;
  NativeCache: typeof NativeCache;
  NativeAbortFlag: typeof NativeAbortFlag;
  NativeLatents: typeof NativeLatents;
  NativeVae: typeof NativeVae;
  NativeTextEncoder: typeof NativeTextEncoder;
  /**
   * A text encoder from a safetensors file (T5: shared.weight or encoder.embed_tokens.weight, decoder.* and lm_head.*
   * ignored; BERT: an optional bert. prefix, pooler.* / cls.* / embeddings.position_ids ignored). dtype: the linear
   * weights' precision ('float16' only on CUDA, T5's wo then float32).
   */
  loadTextEncoder(
    path: string,
    config: NativeTextEncoderConfig,
    options: { backend: 'cpu' | 'cuda'; dtype?: NativeDType; abort?: NativeAbortFlag; onProgress?: NativeProgressCallback },
  ): Promise<NativeTextEncoder>;
  /** The VAE decoder of a weights file in diffusers, legacy diffusers or LDM names. */
  /** dtype: the weights' precision ('bfloat16' / 'float16': CUDA only, tensor-core convolutions; default 'float32'). */
  loadVae(
    path: string,
    config: NativeVaeConfig,
    backend: 'cpu' | 'cuda',
    dtype?: NativeDType,
    options?: { abort?: NativeAbortFlag; onProgress?: NativeProgressCallback },
  ): Promise<NativeVae>;
  /**
   * dtype: the precision linear weights are stored and multiplied in (default 'float32'; 'float16' only on CUDA).
   * key: which state dict of a torch training checkpoint (undefined: ema, then model, ...).
   */
  loadModel(path: string, config: NativeModelConfig, options: NativeLoadOptions): Promise<NativeModel>;
  /** Opens and describes the file on a pool thread (never blocking the JS thread). */
  inspectCheckpoint(path: string, key?: string | null): Promise<NativeCheckpointInfo>;
  /**
   * Writes the picked state dict as safetensors with `metadata` (through a temporary file renamed over `output`
   * on success); resolves to the bytes written. Refuses an output that is the input file or not a regular file.
   */
  /** bf16Names: these float tensors stored BF16 (round to nearest even), the others as they are. */
  convertCheckpoint(input: string, output: string, key: string | null, metadata: Record<string, string>, bf16Names?: string[]): Promise<number>;
  /** Opens and describes a Hugging Face model folder's weights on a pool thread (no tensor data is read). */
  inspectWeights(dir: string, options?: NativeWeightFolderOptions | null): Promise<NativeWeightFolderInfo>;
  /** Synchronous (records graphs, allocates no tensors). batch: a positive integer, default 1. */
  describeModel(config: NativeModelConfig, batch?: number): NativeModelDescription;
  /** describeModel's params alone, in time linear in the depth (describeModel records a graph per cached branch). */
  modelParams(config: NativeModelConfig): NativeModelDescription['params'];
  backends(): [NativeCpuBackendInfo, NativeCudaBackendInfo];
  /** The fp32 FMA peak of all CPU threads, measured for `seconds` (benchmarks report % of it). */
  /** fp32 FMA peak of the pool threads; bf16Gflops: the AVX-512 BF16 dot-product peak where the bf16 GEMM uses it, else 0. */
  measurePeak(seconds?: number): { gflops: number; threads: number; isa: string; bf16Gflops: number };
}
