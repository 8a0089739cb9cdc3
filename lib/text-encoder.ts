// Text encoders (T5 v1.1 / mT5, BERT): config.json read and checked here, the weights loaded and the forward run
// natively (native/text) on a worker thread, through the backend's compute lane like models and VAEs.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { NativeTextEncoder, NativeTextEncoderConfig } from '../binding.js';
import { checkWeightsFile } from './checkpoint.js';
import { AbortError, CheckpointError, DisposedError, InvalidArgumentError, describe, fromNativeError } from './errors.js';
import { native } from './native.js';
import { chooseBackend, type BackendName } from './backends.js';
import type { ModelDType } from './model.js';
import { computeLane } from './queue.js';
import { checkSignal, withAbortFlag } from './abort.js';
import { checkOnProgress, loadEvent, withProgress, type LoadProgress } from './progress.js';
import type { Tensor } from './tensor.js';
import type { IntTensor } from './tokenizer/base.js';
import { localPath, type HubLoadOptions } from './hub/uri.js';

/** Integer tensors of token ids and attention masks (row-major, shape [B, L]): the tokenizers' IntTensor. */
export type IdsTensor = IntTensor;

/** T5 v1.1 / mT5 encoder (T5EncoderModel): the config.json fields it uses (missing ones take transformers' defaults). */
export interface T5EncoderConfig {
  family: 't5';
  model_type: 't5' | 'mt5';
  vocab_size: number;
  d_model: number;
  d_kv: number;
  num_heads: number;
  d_ff: number;
  num_layers: number;
  layer_norm_epsilon: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  /** Only the gated-GELU feed-forward of T5 v1.1 / mT5 ('gated-gelu', or its alias 'gated-gelu_new'). */
  feed_forward_proj: string;
}

/** BERT (BertModel without pooler): the config.json fields it uses. */
export interface BertEncoderConfig {
  family: 'bert';
  model_type: 'bert';
  vocab_size: number;
  hidden_size: number;
  num_attention_heads: number;
  intermediate_size: number;
  num_hidden_layers: number;
  layer_norm_eps: number;
  /** The longest input (rows of the position table). */
  max_position_embeddings: number;
  type_vocab_size: number;
  /** Only the exact erf GELU ('gelu'). */
  hidden_act: 'gelu';
}

export type TextEncoderConfig = T5EncoderConfig | BertEncoderConfig;

/** transformers v4.39's T5Config / MT5Config / BertConfig defaults, for fields a config.json leaves out. */
const defaults = {
  t5: { vocab_size: 32128, d_model: 512, d_kv: 64, d_ff: 2048, num_layers: 6, num_heads: 8, relative_attention_num_buckets: 32, relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6, feed_forward_proj: 'relu' },
  mt5: { vocab_size: 250112, d_model: 512, d_kv: 64, d_ff: 1024, num_layers: 8, num_heads: 6, relative_attention_num_buckets: 32, relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6, feed_forward_proj: 'gated-gelu' },
  bert: { vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, hidden_act: 'gelu', max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12, position_embedding_type: 'absolute' },
} as const;

/** A config.json is a few KiB; anything past this is not one. */
const MAX_CONFIG_BYTES = 1 << 20;

/**
 * The encoder config of a parsed config.json (`source` names the file in errors): model_type 't5', 'mt5' or 'bert',
 * `architectures` (when present) naming a model of that family, every field checked. CheckpointError otherwise.
 */
export function parseTextEncoderConfig(json: unknown, source = 'config.json'): TextEncoderConfig {
  const bad = (field: string, expected: string, received: unknown) =>
    new CheckpointError(`Expected ${expected} for ${field} in ${source} but received ${describe(received)}`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('the config', 'a JSON object', json);
  const raw = json as Record<string, unknown>;
  const type = raw.model_type;
  if (type !== 't5' && type !== 'mt5' && type !== 'bert') {
    throw bad('model_type', "'t5', 'mt5' (T5 v1.1 / mT5 encoders) or 'bert'", type);
  }
  const archs = raw.architectures;
  if (archs !== undefined && archs !== null) {
    const pattern = type === 'bert' ? /bert/i : /t5/i;
    if (!Array.isArray(archs) || (archs.length > 0 && !archs.some((a) => typeof a === 'string' && pattern.test(a)))) {
      throw bad('architectures', type === 'bert' ? 'a BERT model (BertModel, BertForMaskedLM, ...)' : 'a T5 model (T5EncoderModel, T5ForConditionalGeneration, MT5..., ...)', archs);
    }
  }
  const c = { ...defaults[type], ...raw } as Record<string, unknown>;
  const int = (field: string, max: number): number => {
    const v = c[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw bad(field, `an integer in [1, ${max}]`, v);
    return v;
  };
  const eps = (field: string): number => {
    const v = c[field];
    if (typeof v !== 'number' || !(v > 0 && v < 1)) throw bad(field, 'a number in (0, 1)', v);
    return v;
  };
  if (type === 'bert') {
    if (c.hidden_act !== 'gelu') throw bad('hidden_act', "'gelu' (BERT's exact erf GELU)", c.hidden_act);
    if (c.position_embedding_type !== undefined && c.position_embedding_type !== null && c.position_embedding_type !== 'absolute') {
      throw bad('position_embedding_type', "'absolute'", c.position_embedding_type);
    }
    const out: BertEncoderConfig = {
      family: 'bert', model_type: 'bert', vocab_size: int('vocab_size', 2 ** 31), hidden_size: int('hidden_size', 2 ** 24),
      num_attention_heads: int('num_attention_heads', 4096), intermediate_size: int('intermediate_size', 2 ** 24),
      num_hidden_layers: int('num_hidden_layers', 4096), layer_norm_eps: eps('layer_norm_eps'),
      max_position_embeddings: int('max_position_embeddings', 2 ** 20), type_vocab_size: int('type_vocab_size', 2 ** 20), hidden_act: 'gelu',
    };
    if (out.hidden_size % out.num_attention_heads !== 0) {
      throw bad('hidden_size', `a multiple of num_attention_heads (${out.num_attention_heads})`, out.hidden_size);
    }
    return out;
  }
  const ff = c.feed_forward_proj;
  if (ff !== 'gated-gelu' && ff !== 'gated-gelu_new') {
    throw bad('feed_forward_proj', "'gated-gelu' (T5 v1.1 / mT5; the original T5's 'relu' and other variants are not supported)", ff);
  }
  const out: T5EncoderConfig = {
    family: 't5', model_type: type, vocab_size: int('vocab_size', 2 ** 31), d_model: int('d_model', 2 ** 24), d_kv: int('d_kv', 2 ** 16),
    num_heads: int('num_heads', 4096), d_ff: int('d_ff', 2 ** 24), num_layers: int('num_layers', 4096),
    layer_norm_epsilon: eps('layer_norm_epsilon'), relative_attention_num_buckets: int('relative_attention_num_buckets', 2 ** 16),
    relative_attention_max_distance: int('relative_attention_max_distance', 2 ** 30), feed_forward_proj: ff,
  };
  if (out.relative_attention_num_buckets < 4) throw bad('relative_attention_num_buckets', 'at least 4', out.relative_attention_num_buckets);
  if (out.relative_attention_max_distance <= out.relative_attention_num_buckets / 4) {
    throw bad('relative_attention_max_distance', `more than relative_attention_num_buckets / 4 (${out.relative_attention_num_buckets / 4})`, out.relative_attention_max_distance);
  }
  return out;
}

/** The native side's view of a config (bindings/native_text_encoder.cc). */
function nativeConfig(c: TextEncoderConfig): NativeTextEncoderConfig {
  if (c.family === 't5') {
    return {
      family: 't5', vocab_size: c.vocab_size, hidden_size: c.d_model, num_layers: c.num_layers, num_heads: c.num_heads, head_dim: c.d_kv,
      ff_size: c.d_ff, eps: c.layer_norm_epsilon, relative_buckets: c.relative_attention_num_buckets,
      relative_max_distance: c.relative_attention_max_distance,
    };
  }
  return {
    family: 'bert', vocab_size: c.vocab_size, hidden_size: c.hidden_size, num_layers: c.num_hidden_layers, num_heads: c.num_attention_heads,
    head_dim: c.hidden_size / c.num_attention_heads, ff_size: c.intermediate_size, eps: c.layer_norm_eps,
    max_positions: c.max_position_embeddings, type_vocab_size: c.type_vocab_size,
  };
}

/** Reads and checks `<dir>/config.json` (bounded size, a regular file, JSON, an encoder config); `name`: dir in errors. */
export function readTextEncoderConfig(dir: string, name = 'dir'): TextEncoderConfig {
  if (typeof dir !== 'string' || dir.length === 0) throw InvalidArgumentError.expected(name, 'a model folder path', dir);
  if (!existsSync(dir)) throw new CheckpointError(`Cannot open '${dir}': no such folder`);
  if (!statSync(dir).isDirectory()) {
    throw InvalidArgumentError.expected(name, 'a model folder (config.json + model.safetensors), not a file', dir);
  }
  const file = path.join(dir, 'config.json');
  if (!existsSync(file)) throw new CheckpointError(`'${dir}' holds no config.json (a Hugging Face model folder has one)`);
  checkWeightsFile(file, 'config.json'); // a FIFO or a folder named config.json would block or fail the read
  if (statSync(file).size > MAX_CONFIG_BYTES) {
    throw new CheckpointError(`'${file}' is ${statSync(file).size} bytes: not a model config (at most ${MAX_CONFIG_BYTES} bytes)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`'${file}' is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseTextEncoderConfig(json, `'${file}'`);
}

export interface LoadTextEncoderOptions extends HubLoadOptions {
  /** 'auto' (default) as loadModel: CUDA when a device passed the self-test, else the CPU; or 'cpu' / 'cuda'. */
  backend?: 'auto' | BackendName;
  /**
   * Precision of the linear weights: 'float32' (default), 'bfloat16' (CPU: AVX-512 BF16 products where available,
   * fp32 activations and accumulation), 'float16' on CUDA only (T5's `wo` then stays float32, as transformers keeps
   * it). Embeddings, norms and the position bias stay float32.
   */
  dtype?: ModelDType;
  /** Stops the load between tensors (AbortError). */
  signal?: AbortSignal;
  /** `{ phase: 'load', completed, total, unit: 'tensors' }`, as loadModel's. */
  onProgress?: (progress: LoadProgress) => void;
}

const DTYPES: readonly ModelDType[] = ['float32', 'bfloat16', 'float16'];

/**
 * Loads a text encoder from a Hugging Face model folder: `config.json` (model_type t5 / mt5: T5EncoderModel; bert:
 * BertModel without pooler) and `model.safetensors`. The tied T5 embedding may be named `shared.weight` or
 * `encoder.embed_tokens.weight`; a T5 decoder (decoder.*, lm_head.*), a BERT pooler or pretraining heads (pooler.*,
 * cls.*, a `bert.` prefix) in the file are ignored.
 */
export async function loadTextEncoder(dir: string, options: LoadTextEncoderOptions = {}): Promise<TextEncoderModel> {
  if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
  if (typeof dir === 'string') dir = await localPath(dir, { weights: true }, options, 'dir');
  const config = readTextEncoderConfig(dir);
  const dtype = options.dtype ?? 'float32';
  if (!DTYPES.includes(dtype)) throw InvalidArgumentError.expected('options.dtype', "'float32', 'bfloat16' or 'float16'", options.dtype);
  const signal = checkSignal(options.signal);
  const onProgress = checkOnProgress<LoadProgress>(options.onProgress);
  const backend = await chooseBackend(options.backend);
  if (backend === 'cpu' && dtype === 'float16') {
    throw InvalidArgumentError.expected('options.dtype', "'float32' or 'bfloat16' on the cpu backend", dtype);
  }
  try {
    const handle = await withProgress(onProgress, loadEvent, (progress) => withAbortFlag(signal,
      (abort) => native().loadTextEncoder(dir, nativeConfig(config), { backend, dtype, abort, onProgress: progress })));
    return new TextEncoderModel(handle, config, dir, backend, dtype);
  } catch (err) {
    throw fromNativeError(err);
  }
}

export interface TextEncoderInput {
  /** Token ids (B, L), B, L >= 1, each in [0, vocab_size): an Int32Array (or any array of integers) and its shape. */
  ids: { data: ArrayLike<number | bigint>; shape: number[] };
  /** Attention mask (B, L) of 0 (padding) / 1, as transformers' attention_mask; omitted: all ones. */
  mask?: { data: ArrayLike<number | bigint>; shape: number[] };
}

export interface TextForwardOptions {
  signal?: AbortSignal;
  /**
   * Also return intermediate tensors: `embedding` (hidden_states[0]), `layer_out` (every layer's output, stacked:
   * for T5 the raw block outputs, before the final norm), T5's `attn_residual` (h after each attention residual)
   * and `position_bias` (1, H, L, L).
   */
  taps?: boolean;
}

export interface TextEncoderOutput extends Tensor {
  /** last_hidden_state (B, L, D). */
  shape: number[];
  taps?: Record<string, Tensor>;
}

/**
 * What encodeText needs of a tokenizer (loadTokenizer's result): `encode(texts, options) -> { ids, mask }`, integer
 * tensors (B, L).
 */
export interface TextTokenizer {
  encode(texts: string[], options: { maxLength?: number; padding?: 'max_length' | 'longest' | false; truncation?: boolean }): { ids: IdsTensor; mask: IdsTensor };
}

export interface EncodeTextOptions {
  /** Tokens per prompt: padded to and truncated at this length (the pipelines' max_length: Latte 120, Hunyuan-DiT 77 / 256). */
  maxLength: number;
  signal?: AbortSignal;
}

export interface EncodedText {
  /** last_hidden_state (B, maxLength, D), as the pipelines read it; rows past a prompt's tokens are padding. */
  states: Tensor;
  /** The tokenizer's attention mask (B, maxLength): 1 for the prompt's tokens, 0 for padding. */
  mask: IdsTensor;
  /** The token ids (B, maxLength). */
  ids: IdsTensor;
}

/** A loaded text encoder (loadTextEncoder): forward() gives last_hidden_state. */
export class TextEncoderModel {
  readonly config: TextEncoderConfig;
  /** The folder it was loaded from. */
  readonly dir: string;
  readonly backend: BackendName;
  /** The precision of the linear weights. */
  readonly dtype: ModelDType;
  #native: NativeTextEncoder | undefined;

  /** @internal Use loadTextEncoder(). */
  constructor(handle: NativeTextEncoder, config: TextEncoderConfig, dir: string, backend: BackendName, dtype: ModelDType) {
    this.#native = handle;
    this.config = Object.freeze({ ...config });
    this.dir = dir;
    this.backend = backend;
    this.dtype = dtype;
  }

  get family(): 't5' | 'bert' {
    return this.config.family;
  }

  /** Width of the output states (T5 d_model, BERT hidden_size). */
  get hiddenSize(): number {
    return this.config.family === 't5' ? this.config.d_model : this.config.hidden_size;
  }

  get vocabSize(): number {
    return this.config.vocab_size;
  }

  /** The longest input: BERT's max_position_embeddings; T5 has no limit (Infinity). */
  get maxLength(): number {
    return this.config.family === 'bert' ? this.config.max_position_embeddings : Infinity;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** transformers' `model(input_ids, attention_mask=mask).last_hidden_state`: (B, L, D) float32. */
  async forward(input: TextEncoderInput, options: TextForwardOptions = {}): Promise<TextEncoderOutput> {
    const handle = this.#live();
    if (typeof input !== 'object' || input === null) throw InvalidArgumentError.expected('input', '{ ids, mask? }', input);
    if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', 'an object', options);
    const { ids, shape } = this.#checkIds(input.ids);
    const mask = input.mask === undefined ? null : checkMask(input.mask, shape);
    const signal = checkSignal(options.signal);
    let r;
    try {
      r = await computeLane(this.backend).run(() => withAbortFlag(signal,
        (abort) => handle.forward(ids, shape, mask, { taps: options.taps === true, abort })), signal);
    } catch (err) {
      throw fromNativeError(err);
    }
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason }); // came after the last node
    const out: TextEncoderOutput = { data: r.data, shape: r.shape };
    if (r.taps) out.taps = Object.fromEntries(Object.entries(r.taps).map(([k, v]) => [k, { data: v.data, shape: v.shape }]));
    return out;
  }

  /**
   * Prompts to states as the pipelines compute them: `tokenizer.encode(texts, { maxLength, padding: 'max_length',
   * truncation: true })` (a prompt longer than maxLength is truncated, never an error), then forward with the mask.
   */
  async encodeText(tokenizer: TextTokenizer, texts: string[], options: EncodeTextOptions): Promise<EncodedText> {
    this.#live();
    if (typeof tokenizer !== 'object' || tokenizer === null || typeof (tokenizer as TextTokenizer).encode !== 'function') {
      throw InvalidArgumentError.expected('tokenizer', 'a tokenizer from loadTokenizer() (an object with encode())', tokenizer);
    }
    if (!Array.isArray(texts) || texts.length === 0) throw InvalidArgumentError.expected('texts', 'a non-empty array of strings', texts);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw InvalidArgumentError.expected(`texts[${i}]`, 'a string', t);
    });
    if (typeof options !== 'object' || options === null) throw InvalidArgumentError.expected('options', '{ maxLength }', options);
    const { maxLength } = options;
    const limit = this.maxLength;
    if (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 1 || maxLength > limit) {
      throw InvalidArgumentError.expected('options.maxLength', `an integer in [1, ${limit === Infinity ? 'any' : limit}]${limit === Infinity ? '' : ' (max_position_embeddings)'}`, maxLength);
    }
    const { ids, mask } = tokenizer.encode(texts, { maxLength, padding: 'max_length', truncation: true });
    const states = await this.forward({ ids, mask }, { signal: options.signal });
    return { states: { data: states.data, shape: states.shape }, mask, ids };
  }

  /** Bytes of weights and activation workspace held natively. */
  memory(): { weightBytes: number; workspaceBytes: number } {
    const info = this.#live().info();
    return { weightBytes: info.weightBytes, workspaceBytes: info.workspaceBytes };
  }

  /** Releases the native weights now (also after an in-flight forward finishes). Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(): NativeTextEncoder {
    if (!this.#native) throw new DisposedError('The text encoder');
    return this.#native;
  }

  #checkIds(value: TextEncoderInput['ids']): { ids: Int32Array; shape: [number, number] } {
    const shape = checkShape(value, 'ids');
    const [B, L] = shape;
    if (L > this.maxLength) {
      throw InvalidArgumentError.expected('ids.shape[1]', `at most ${this.maxLength} tokens (max_position_embeddings of this BERT)`, L);
    }
    const data = value.data;
    const vocab = this.config.vocab_size;
    const ids = new Int32Array(B * L);
    for (let i = 0; i < ids.length; i++) {
      const v = asNumber(data[i]);
      if (!Number.isInteger(v) || v < 0 || v >= vocab) {
        throw InvalidArgumentError.expected(`ids.data[${i}]`, `a token id: an integer in [0, ${vocab - 1}] (vocab_size ${vocab})`, data[i]);
      }
      ids[i] = v;
    }
    return { ids, shape };
  }
}

/** A number or bigint element as a number; anything else NaN (refused by the checks). */
function asNumber(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN;
}

/** A { data, shape: [B, L] } with B, L >= 1 and B * L values. */
function checkShape(value: unknown, name: string): [number, number] {
  if (typeof value !== 'object' || value === null) throw InvalidArgumentError.expected(name, '{ data: Int32Array, shape: [B, L] }', value);
  const { data, shape } = value as { data?: unknown; shape?: unknown };
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw InvalidArgumentError.expected(`${name}.shape`, '[B, L] (two non-negative integers)', shape);
  }
  if (shape[0] < 1 || shape[1] < 1) throw InvalidArgumentError.expected(`${name}.shape`, 'at least one sequence of at least one token', shape);
  const isArrayLike = Array.isArray(data) || (ArrayBuffer.isView(data) && !(data instanceof DataView));
  if (!isArrayLike) throw InvalidArgumentError.expected(`${name}.data`, 'an Int32Array (or an array of integers)', data);
  const n = shape[0] * shape[1];
  if ((data as ArrayLike<unknown>).length !== n) {
    throw new InvalidArgumentError(`Expected ${n} values (shape [${shape.join(', ')}]) for ${name}.data but received ${(data as ArrayLike<unknown>).length}`);
  }
  return [shape[0], shape[1]];
}

/** The mask as float32 0 / 1 of exactly the ids' shape. */
function checkMask(value: unknown, idsShape: [number, number]): Float32Array {
  if (typeof value !== 'object' || value === null) throw InvalidArgumentError.expected('mask', '{ data: Int32Array, shape: [B, L] }', value);
  const shape = (value as { shape?: unknown }).shape;
  if (!Array.isArray(shape) || shape.length !== 2 || shape[0] !== idsShape[0] || shape[1] !== idsShape[1]) {
    throw InvalidArgumentError.expected('mask.shape', `[${idsShape.join(', ')}] (the shape of ids)`, shape);
  }
  checkShape(value, 'mask');
  const data = (value as { data: ArrayLike<number | bigint> }).data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < out.length; i++) {
    const v = asNumber(data[i]);
    if (v !== 0 && v !== 1) throw InvalidArgumentError.expected(`mask.data[${i}]`, '0 (padding) or 1 (token)', data[i]);
    out[i] = v;
  }
  return out;
}
