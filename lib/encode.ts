// `skipdit encode`: prompts -> text encoder states in a safetensors file (states, mask, ids), as the pipelines feed
// them to a text-conditioned DiT.
import { InvalidArgumentError } from './errors.js';
import { checkOutputPath, writeOutput } from './output.js';
import { encodeSafetensors } from './safetensors.js';
import { loadTextEncoder, readTextEncoderConfig } from './text-encoder.js';
import { loadTokenizer } from './tokenizer/index.js';
import type { ModelDType } from './model.js';
import type { LoadProgress } from './progress.js';

export interface EncodeArgs {
  /** Text encoder folder (config.json + model.safetensors). */
  encoder: string;
  /** Tokenizer folder or file, for loadTokenizer(). */
  tokenizer: string;
  /** Tokens per prompt (padding and truncation); default: T5 120 (Latte), BERT 77 (Hunyuan-DiT's CLIP-side BERT). */
  maxLength?: number;
  backend?: 'auto' | 'cpu' | 'cuda';
  dtype?: ModelDType;
  /** The output .safetensors file. */
  out: string;
  signal?: AbortSignal;
  onProgress?: (e: LoadProgress) => void;
  /** How the errors name the options (the CLI's flags). */
  names?: { encoder?: string; maxLength?: string; out?: string };
}

export interface EncodeReport {
  out: string;
  prompts: number;
  /** [B, maxLength, D] */
  shape: number[];
  /** Real tokens per prompt (the mask's row sums). */
  tokens: number[];
  family: 't5' | 'bert';
  backend: string;
  dtype: ModelDType;
  ms: number;
}

/** Default tokens per prompt of each family (the pipelines' max_length). */
export const defaultMaxLength = { t5: 120, bert: 77 } as const;

/**
 * Encodes `prompts` and writes `states` (float32 [B, L, D], last_hidden_state), `mask` (int64 [B, L], 1 for tokens)
 * and `ids` (int64 [B, L]) to `out`, with the prompts and settings in the metadata.
 */
export async function encodeToFile(prompts: string[], args: EncodeArgs): Promise<EncodeReport> {
  const started = performance.now();
  if (!Array.isArray(prompts) || prompts.length === 0) throw InvalidArgumentError.expected('prompts', 'at least one prompt', prompts);
  checkOutputPath(args.out, 'file', args.names?.out ?? 'out');
  const config = readTextEncoderConfig(args.encoder, args.names?.encoder ?? 'encoder'); // a bad folder fails before anything loads
  const maxLength = args.maxLength ?? defaultMaxLength[config.family];
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw InvalidArgumentError.expected(args.names?.maxLength ?? 'maxLength', 'a positive integer', args.maxLength);
  }
  const tokenizer = await loadTokenizer(args.tokenizer);
  const encoder = await loadTextEncoder(args.encoder, { backend: args.backend, dtype: args.dtype, signal: args.signal, onProgress: args.onProgress });
  try {
    const r = await encoder.encodeText(tokenizer, prompts, { maxLength, signal: args.signal });
    const [B, L] = r.mask.shape;
    const tokens = Array.from({ length: B }, (_, b) => r.mask.data.subarray(b * L, (b + 1) * L).reduce((a, v) => a + v, 0));
    const toI64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
    const metadata = {
      format: 'pt', producer: 'skipdit encode', family: encoder.family, model_type: encoder.config.model_type, encoder: args.encoder,
      tokenizer: args.tokenizer, max_length: String(maxLength), dtype: encoder.dtype, prompts: JSON.stringify(prompts),
    };
    writeOutput(args.out, encodeSafetensors({
      states: r.states, mask: { data: toI64(r.mask.data), shape: r.mask.shape }, ids: { data: toI64(r.ids.data), shape: r.ids.shape },
    }, metadata));
    return {
      out: args.out, prompts: B, shape: r.states.shape, tokens, family: encoder.family, backend: encoder.backend, dtype: encoder.dtype,
      ms: performance.now() - started,
    };
  } finally {
    encoder.dispose();
  }
}
