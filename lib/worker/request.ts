// A generation job's payload: what a producer enqueues and a worker runs. Validated on both sides with the API's
// typed errors (InvalidArgumentError naming `request.<field>`), so a bad request fails at enqueue time, and a payload
// written to Redis by anything else fails on the worker without retries.
import { resolveCachePolicy, type CachePolicyInput } from '../cache.js';
import { InvalidArgumentError, isFloat32 } from '../errors.js';

export type GenerationOutput = 'png' | 'gif' | 'mp4' | 'latents';
export type GenerationSampler = 'ddim' | 'ddpm' | 'dpmsolver++';

export interface GenerationRequest {
  /**
   * Which model: a name the worker knows (a file or folder in its models folder, without extension, or a key of its
   * models map), 'bundled' for the bundled digits model, or an hf:// path when the worker allows Hub downloads.
   */
  model: string;
  /** Class-conditioned models (DiT, Latte): the class of each sample (default: one sample of class 0). */
  labels?: number[];
  /** Text models (Latte text-to-video, Hunyuan-DiT): the prompt, and optionally the negative prompt. */
  prompt?: string;
  negativePrompt?: string;
  /** Default: the model's usual sampler and steps (as `skipdit generate`). */
  sampler?: GenerationSampler;
  steps?: number;
  cfgScale?: number;
  /** A Skip-Cache preset or policy string ('dit:2', 'dit:auto:0.06'), or 'none' (default). */
  cache?: string;
  /** Seed of all noise (default 0): the same request gives the same bits on every worker of a backend. */
  seed?: number;
  /** Hunyuan-DiT: [height, width] in pixels. */
  size?: [number, number];
  /** Latte: the model's frame count (checked), or 1 for a text-to-video still. */
  frames?: number;
  output: GenerationOutput;
}

const OUTPUTS: readonly GenerationOutput[] = ['png', 'gif', 'mp4', 'latents'];
const SAMPLERS: readonly GenerationSampler[] = ['ddim', 'ddpm', 'dpmsolver++'];
const KEYS = new Set(['model', 'labels', 'prompt', 'negativePrompt', 'sampler', 'steps', 'cfgScale', 'cache', 'seed', 'size', 'frames', 'output']);
/** Bounds that keep one job's work and payload finite (a queue is an open door). */
export const REQUEST_LIMITS = { labels: 256, promptChars: 4096, steps: 1000, side: 4096, frames: 256, modelChars: 512 } as const;

/** A name of the models folder: no path separators, no '..', no leading dot; or an hf:// path. */
export function checkModelName(value: unknown, name = 'request.model'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > REQUEST_LIMITS.modelChars) {
    throw InvalidArgumentError.expected(name, `a model name (1 to ${REQUEST_LIMITS.modelChars} characters)`, value);
  }
  if (value.startsWith('hf://')) return value;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/.test(value) || value.includes('..')) {
    throw InvalidArgumentError.expected(name, "a model name of letters, digits, '_', '.', '+' and '-' (no path), or an hf:// path", value);
  }
  return value;
}

/** Checks a payload and returns it as a GenerationRequest (a new object: unknown fields are refused, not dropped). */
export function validateGenerationRequest(value: unknown, where = 'request'): GenerationRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw InvalidArgumentError.expected(where, 'an object', value);
  const r = value as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!KEYS.has(key)) throw InvalidArgumentError.expected(where, `only the fields ${[...KEYS].join(', ')}`, `a field '${key}'`);
  const name = (field: string) => `${where}.${field}`;
  const out: GenerationRequest = { model: checkModelName(r.model, name('model')), output: r.output as GenerationOutput };
  if (!OUTPUTS.includes(r.output as GenerationOutput)) throw InvalidArgumentError.expected(name('output'), OUTPUTS.map((o) => `'${o}'`).join(', '), r.output);
  const integer = (field: string, min: number, max: number): number | undefined => {
    const v = r[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw InvalidArgumentError.expected(name(field), `an integer in [${min}, ${max}]`, v);
    return v;
  };
  if (r.labels !== undefined) {
    if (!Array.isArray(r.labels) || r.labels.length === 0 || r.labels.length > REQUEST_LIMITS.labels) {
      throw InvalidArgumentError.expected(name('labels'), `an array of 1 to ${REQUEST_LIMITS.labels} class labels`, r.labels);
    }
    r.labels.forEach((l, i) => {
      if (typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l > 1e6) throw InvalidArgumentError.expected(`${name('labels')}[${i}]`, 'a non-negative integer class label', l);
    });
    out.labels = [...r.labels] as number[];
  }
  for (const field of ['prompt', 'negativePrompt'] as const) {
    const v = r[field];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > REQUEST_LIMITS.promptChars) throw InvalidArgumentError.expected(name(field), `a string of at most ${REQUEST_LIMITS.promptChars} characters`, v);
    out[field] = v;
  }
  if (out.labels && out.prompt !== undefined) throw InvalidArgumentError.expected(where, 'labels (class-conditioned models) or a prompt (text models), not both', 'both');
  if (r.sampler !== undefined) {
    if (!SAMPLERS.includes(r.sampler as GenerationSampler)) throw InvalidArgumentError.expected(name('sampler'), SAMPLERS.map((s) => `'${s}'`).join(', '), r.sampler);
    out.sampler = r.sampler as GenerationSampler;
  }
  out.steps = integer('steps', 1, REQUEST_LIMITS.steps);
  if (r.cfgScale !== undefined) {
    if (typeof r.cfgScale !== 'number' || !isFloat32(r.cfgScale) || r.cfgScale < 0) throw InvalidArgumentError.expected(name('cfgScale'), 'a finite number >= 0', r.cfgScale);
    out.cfgScale = r.cfgScale;
  }
  if (r.cache !== undefined) {
    if (typeof r.cache !== 'string' || r.cache.length === 0 || r.cache.length > 128) throw InvalidArgumentError.expected(name('cache'), "a Skip-Cache preset string ('dit:2', 'dit:auto:0.06', 'none')", r.cache);
    if (r.cache !== 'none') resolveCachePolicy(r.cache as CachePolicyInput, name('cache')); // a malformed preset fails here, typed
    out.cache = r.cache;
  }
  out.seed = integer('seed', 0, Number.MAX_SAFE_INTEGER);
  if (r.size !== undefined) {
    const s = r.size;
    if (!Array.isArray(s) || s.length !== 2 || s.some((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 16 || v > REQUEST_LIMITS.side || v % 16 !== 0)) {
      throw InvalidArgumentError.expected(name('size'), `[height, width], multiples of 16 in [16, ${REQUEST_LIMITS.side}]`, s);
    }
    out.size = [s[0], s[1]];
  }
  out.frames = integer('frames', 1, REQUEST_LIMITS.frames);
  for (const k of Object.keys(out) as (keyof GenerationRequest)[]) if (out[k] === undefined) delete out[k];
  return out;
}
