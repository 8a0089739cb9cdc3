// generateVideo(): what `skipdit generate --prompt ...` does for a LatteT2V model, as sample_t2v.py runs it: find
// the files (a Latte-1 style folder: the skip checkpoint, transformer/config.json, text_encoder, tokenizer,
// vae_temporal_decoder, scheduler/scheduler_config.json), load them, encode the prompts with T5, sample with CFG
// and Skip-Cache, decode with the temporal VAE, convert to bytes as the official script and write an MP4 (ffmpeg),
// a GIF, PNG frames, or a PNG for a single frame. Every option is checked before the long work.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CachePolicyInput } from './cache.js';
import { inspectCheckpoint } from './checkpoint.js';
import { cleanCaption } from './caption.js';
import { AbortError, CheckpointError, InvalidArgumentError, checkFloat32 } from './errors.js';
import { imageGrid, mapByte, type Image } from './image.js';
import { Model, loadModel, type ModelDType } from './model.js';
import { checkOutputPath, writeOutput } from './output.js';
import { Pipeline, type StepInfo } from './pipeline.js';
import type { TimestepSpacing } from './schedulers.js';
import type { Tensor } from './tensor.js';
import { loadTextEncoder, TextEncoderModel } from './text-encoder.js';
import { loadTokenizer, type Tokenizer } from './tokenizer/index.js';
import { Vae, loadVae } from './vae.js';
import { checkFps, encodeGif, ffmpegAvailable, writeMp4, writePngSequence } from './video.js';
import { writePng } from './image.js';

export type VideoFormat = 'mp4' | 'gif' | 'frames' | 'png';

export interface GenerateVideoOptions {
  /**
   * The LatteT2V weights: a checkpoint (Latte-skip.pt, safetensors) or a folder holding one next to Latte-1's
   * sub-folders; a Model from loadModel() also works (then give the other parts explicitly).
   */
  model: string | Model;
  /**
   * A Latte-0 / Latte-1 folder (the official pretrained_model_path) whose text_encoder, tokenizer,
   * vae_temporal_decoder, scheduler/scheduler_config.json and transformer/config.json fill what the model's folder
   * lacks: a Latte-skip.pt downloaded on its own (`skipdit pull latte-skip-t2v` gives both).
   */
  base?: string;
  /** The T5 encoder folder (default: <folder>/text_encoder) or a loaded one. */
  textEncoder?: string | TextEncoderModel;
  /** The tokenizer folder or file (default: <folder>/tokenizer, else the text encoder's folder). */
  tokenizer?: string | Tokenizer;
  /** The temporal VAE decoder folder (default: <folder>/vae_temporal_decoder) or a loaded one. */
  vae?: string | Vae;
  prompts: string[];
  /** Default '' (the official negative prompt). */
  negativePrompt?: string;
  /** Frames: the model's video_length (default 16) or 1 (an image, written as PNG). */
  frames?: number;
  /** DDIM steps (default 50), CFG scale (default 7.5; <= 1 turns guidance off), Skip-Cache (default none). */
  steps?: number;
  cfg?: number;
  cache?: false | 'none' | CachePolicyInput;
  seed?: number;
  /** The DDIMScheduler config (default: the folder's scheduler/scheduler_config.json, else the official one). */
  timestepSpacing?: TimestepSpacing;
  stepsOffset?: number;
  /** DDIMScheduler's set_alpha_to_one (default: the folder's scheduler config, else the scheduler's default). */
  setAlphaToOne?: boolean;
  /** Caption cleaning as the official pipeline (default true). */
  cleanCaption?: boolean;
  backend?: 'auto' | 'cpu' | 'cuda';
  /** Precision of the transformer's and T5's linear weights (default float32 on CPU). */
  dtype?: ModelDType;
  fps?: number;
  /** Default: from out's extension (.mp4, .gif, .png for one frame, else a folder of PNG frames). */
  format?: VideoFormat;
  out?: string;
  signal?: AbortSignal;
  onProgress?: (event: VideoProgress) => void;
  /** How error messages name the options (the CLI passes its flags). */
  optionNames?: Partial<Record<keyof GenerateVideoOptions, string>>;
}

export type VideoProgress =
  | { phase: 'load'; target: 'model' | 'text-encoder' | 'tokenizer' | 'vae' }
  | { phase: 'encode' }
  | { phase: 'sample'; completed: number; total: number; step?: StepInfo }
  | { phase: 'decode'; completed: number; total: number }
  | { phase: 'write'; out: string };

/** The timings and cache counts of a prompt-to-pixels run (text-to-video, Hunyuan-DiT). */
export interface TextRunTimings {
  steps: number;
  encodeMs: number;
  sampleMs: number;
  decodeMs: number;
  fullSteps: number;
  cachedSteps: number;
  predictedSpeedup: number;
}

export interface VideoReport extends TextRunTimings {
  model: string | null;
  textEncoder: string | null;
  vae: string | null;
  out: string;
  format: VideoFormat;
  prompts: string[];
  frames: number;
  cfgScale: number | null;
  cache: unknown;
  seed: number;
  timesteps: number[];
  stepsDetail: { index: number; timestep: number; cached: boolean; ms: number }[];
}

export interface VideoResult {
  /** The latents (n, C, F, H, W). */
  samples: Tensor;
  /** The decoded frames (n, F, 3, H, W) in the decoder's range. */
  video: Tensor;
  /** What was written: one grid per frame (frame f of every video). */
  images: Image[];
  report: VideoReport;
}

/** The parts of a text-to-video model found on disk. */
export interface T2VLayout {
  checkpoint: string;
  /** transformer/config.json's num_attention_heads and sample_size, when present. */
  transformerConfig: { num_heads?: number; input_size?: number };
  textEncoder?: string;
  tokenizer?: string;
  vae?: string;
  /** scheduler/scheduler_config.json's DDIM options, when present. */
  scheduler: { timestepSpacing?: TimestepSpacing; stepsOffset?: number; setAlphaToOne?: boolean };
}

const CHECKPOINT_EXTENSIONS = ['.pt', '.pth', '.bin', '.safetensors'];

/**
 * Finds the parts of a Latte-1 style folder (or of the folder around a checkpoint file): the skip checkpoint at
 * the top (else transformer/diffusion_pytorch_model.safetensors, plain LatteT2V), transformer/config.json,
 * text_encoder, tokenizer, vae_temporal_decoder, scheduler/scheduler_config.json; what it lacks is looked up in
 * `base` (a Latte-0 / Latte-1 folder).
 */
export function findT2VLayout(modelPath: string, name = 'model', base?: string): T2VLayout {
  if (typeof modelPath !== 'string' || !existsSync(modelPath)) throw InvalidArgumentError.expected(name, 'a LatteT2V checkpoint or a folder holding one', modelPath);
  const isDir = statSync(modelPath).isDirectory();
  const root = isDir ? modelPath : path.dirname(modelPath);
  let checkpoint = modelPath;
  if (isDir) {
    const top = readdirSync(modelPath).filter((f) => CHECKPOINT_EXTENSIONS.includes(path.extname(f).toLowerCase())).sort();
    // a skip checkpoint (Latte-skip.pt) first; several: the one named *skip*
    const pick = top.find((f) => /skip/i.test(f)) ?? top[0];
    const plain = path.join(modelPath, 'transformer', 'diffusion_pytorch_model.safetensors');
    if (pick) checkpoint = path.join(modelPath, pick);
    else if (existsSync(plain)) checkpoint = plain;
    else throw new CheckpointError(`'${modelPath}' holds no checkpoint (${CHECKPOINT_EXTENSIONS.join(', ')}) and no transformer/diffusion_pytorch_model.safetensors`);
  }
  if (base !== undefined && (typeof base !== 'string' || !existsSync(base) || !statSync(base).isDirectory())) {
    throw InvalidArgumentError.expected('base', 'a Latte-0 / Latte-1 folder', base);
  }
  const sub = (p: string) => [root, base].map((r) => r && path.join(r, p)).find((f) => f && existsSync(f));
  const json = (p: string | undefined): Record<string, unknown> | undefined => {
    if (!p || !statSync(p).isFile()) return undefined;
    try {
      const v = JSON.parse(readFileSync(p, 'utf8'));
      return typeof v === 'object' && v !== null ? v : undefined;
    } catch (err) {
      throw new CheckpointError(`'${p}' is not valid JSON`, { cause: err });
    }
  };
  const tc = json(sub('transformer/config.json'));
  const sc = json(sub('scheduler/scheduler_config.json'));
  const textEncoder = sub('text_encoder');
  const tokenizer = sub('tokenizer') ?? (textEncoder && existsSync(path.join(textEncoder, 'spiece.model')) ? textEncoder : undefined);
  return {
    checkpoint,
    transformerConfig: {
      ...(typeof tc?.num_attention_heads === 'number' ? { num_heads: tc.num_attention_heads } : {}),
      ...(typeof tc?.sample_size === 'number' ? { input_size: tc.sample_size } : {}),
    },
    textEncoder, tokenizer, vae: sub('vae_temporal_decoder'),
    scheduler: {
      ...(typeof sc?.timestep_spacing === 'string' ? { timestepSpacing: sc.timestep_spacing as TimestepSpacing } : {}),
      ...(typeof sc?.steps_offset === 'number' ? { stepsOffset: sc.steps_offset } : {}),
      ...(typeof sc?.set_alpha_to_one === 'boolean' ? { setAlphaToOne: sc.set_alpha_to_one } : {}),
    },
  };
}

/**
 * The official uint8 frames: ((x / 2 + 0.5).clamp(0, 1) * 255).to(uint8), float32 ops, truncation
 * (pipeline_latte.py); video (n, F, 3, H, W) -> per frame f a grid of the n videos' frame f.
 */
export function videoFrames(video: Tensor, nrow?: number): Image[] {
  const [n, F, C, H, W] = video.shape;
  const per = C * H * W;
  return Array.from({ length: F }, (_, f) => {
    const frame = new Float32Array(n * per);
    for (let v = 0; v < n; v++) frame.set(video.data.subarray((v * F + f) * per, (v * F + f + 1) * per), v * per);
    return imageGrid({ data: frame, shape: [n, C, H, W] }, { nrow: nrow ?? Math.ceil(Math.sqrt(n)), mapping: 'latte-t2v' });
  });
}

type Names = { name: (key: keyof GenerateVideoOptions) => string };

/** Checks what the options alone tell (before any load). */
function checkVideoOptions(o: GenerateVideoOptions, { name }: Names): void {
  if (!Array.isArray(o.prompts) || o.prompts.length === 0 || o.prompts.some((p) => typeof p !== 'string')) {
    throw InvalidArgumentError.expected(name('prompts'), 'one or more prompt strings', o.prompts);
  }
  if (o.prompts.length > 64) throw InvalidArgumentError.expected(name('prompts'), 'at most 64 prompts (one video each)', o.prompts.length);
  if (o.negativePrompt !== undefined && typeof o.negativePrompt !== 'string') throw InvalidArgumentError.expected(name('negativePrompt'), 'a string', o.negativePrompt);
  if (typeof o.model !== 'string' && !(o.model instanceof Model)) throw InvalidArgumentError.expected(name('model'), 'a checkpoint, a folder or a Model', o.model);
  if (o.model instanceof Model && o.model.config.family !== 'latte-t2v') {
    throw InvalidArgumentError.expected(name('model'), 'a LatteT2V (text-to-video) model', `a ${o.model.config.family} model`);
  }
  checkFloat32(name('cfg'), o.cfg);
  if (o.steps !== undefined && !(Number.isInteger(o.steps) && o.steps >= 1 && o.steps <= 1000)) throw InvalidArgumentError.expected(name('steps'), 'an integer in [1, 1000]', o.steps);
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0)) throw InvalidArgumentError.expected(name('seed'), 'a non-negative integer', o.seed);
  if (o.format !== undefined && !['mp4', 'gif', 'frames', 'png'].includes(o.format)) throw InvalidArgumentError.expected(name('format'), "'mp4', 'gif', 'frames' or 'png'", o.format);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw InvalidArgumentError.expected(name('onProgress'), 'a function', o.onProgress);
  checkFps(o.fps, name('fps'));
}

/** The output format and path: .mp4 (ffmpeg), .gif, .png (one frame), else a folder of PNG frames. */
function planOutput(o: GenerateVideoOptions, frames: number, { name }: Names): { format: VideoFormat; out: string } {
  const out = o.out ?? (frames === 1 ? 'sample.png' : 'sample.gif');
  const ext = path.extname(out).toLowerCase();
  const format = o.format ?? (ext === '.mp4' ? 'mp4' : ext === '.gif' ? 'gif' : ext === '.png' ? 'png' : 'frames');
  if ((format === 'png') !== (frames === 1)) {
    throw InvalidArgumentError.expected(name('out'), frames === 1 ? 'a .png for a single frame' : 'a .mp4, .gif or a folder of PNG frames for a video', out);
  }
  if (format === 'mp4' && !ffmpegAvailable()) throw new InvalidArgumentError('Expected an ffmpeg binary on PATH to write MP4 (write a .gif or a PNG frame folder instead)');
  checkOutputPath(out, format === 'frames' ? 'folder' : 'file', name('out'));
  return { format, out };
}

/** A required part of a model download: the given path, else the layout's, else a typed error naming the option. */
export function part(given: string | undefined, found: string | undefined, flag: string, what: string): string {
  const p = given ?? found;
  if (!p) throw new InvalidArgumentError(`Expected ${flag} (${what}): the model's folder has none`);
  return p;
}

/** Prompts to a video file with a LatteT2V model; see GenerateVideoOptions. */
export async function generateVideo(o: GenerateVideoOptions): Promise<VideoResult> {
  if (typeof o !== 'object' || o === null) throw InvalidArgumentError.expected('options', 'an object', o);
  const names: Names = { name: (key) => (o.optionNames?.[key] ?? key).split(' ')[0] };
  checkVideoOptions(o, names);
  const layout = typeof o.model === 'string' ? findT2VLayout(o.model, names.name('model'), o.base) : undefined;
  const frames = o.frames ?? (o.model instanceof Model ? o.model.config.num_frames : 16);
  if (!Number.isInteger(frames) || frames < 1) throw InvalidArgumentError.expected(names.name('frames'), 'a positive integer', o.frames);
  const { format, out } = planOutput(o, frames, names);
  const emit = (e: VideoProgress) => o.onProgress?.(e);
  const stop = (when: string) => {
    if (o.signal?.aborted) throw new AbortError(`Generation aborted ${when}; nothing was written`, { cause: o.signal.reason });
  };
  const owned: { dispose(): void }[] = [];
  try {
    const encoderPath = typeof o.textEncoder === 'string' ? o.textEncoder : undefined;
    const textEncoderDir = o.textEncoder instanceof TextEncoderModel ? undefined : part(encoderPath, layout?.textEncoder, names.name('textEncoder'), 'the T5 text encoder folder');
    const tokenizerPath = typeof o.tokenizer === 'string' ? o.tokenizer : undefined;
    const tokenizerDir = typeof o.tokenizer === 'object' ? undefined
      : part(tokenizerPath ?? (encoderPath && existsSync(path.join(encoderPath, 'spiece.model')) ? encoderPath : undefined), layout?.tokenizer, names.name('tokenizer'), "the T5 tokenizer (spiece.model)");
    const vaeDir = o.vae instanceof Vae ? undefined : part(typeof o.vae === 'string' ? o.vae : undefined, layout?.vae, names.name('vae'), 'the vae_temporal_decoder folder');

    emit({ phase: 'load', target: 'model' });
    if (layout) {
      // a class-to-video (or DiT) checkpoint: say so before loading it with a text-to-video config
      const { tensors } = await inspectCheckpoint(layout.checkpoint);
      if (tensors['adaln_single.linear.weight'] === undefined || tensors['caption_projection.linear_1.weight'] === undefined) {
        throw new InvalidArgumentError(`Expected a LatteT2V (text-to-video) checkpoint for ${names.name('model')} but '${layout.checkpoint}' has no caption projection (a class-conditioned model: use skipdit generate --class)`);
      }
    }
    const model = o.model instanceof Model ? o.model : await loadModel(layout!.checkpoint, {
      config: { num_frames: frames === 1 ? 16 : frames, ...layout!.transformerConfig }, backend: o.backend ?? 'auto', dtype: o.dtype, signal: o.signal,
    });
    if (model !== o.model) owned.push(model);
    if (model.config.family !== 'latte-t2v') {
      throw InvalidArgumentError.expected(names.name('model'), 'a LatteT2V (text-to-video) checkpoint', `a ${model.config.family} checkpoint (use skipdit generate --class for class-conditioned models)`);
    }
    if (frames !== 1 && frames !== model.config.num_frames) throw InvalidArgumentError.expected(names.name('frames'), `${model.config.num_frames} (the model's temporal embedding) or 1`, frames);
    emit({ phase: 'load', target: 'text-encoder' });
    const encoderDtype = o.dtype === 'float16' && model.backend === 'cpu' ? undefined : o.dtype;
    const encoder = o.textEncoder instanceof TextEncoderModel ? o.textEncoder : await loadTextEncoder(textEncoderDir!, { backend: model.backend, dtype: encoderDtype, signal: o.signal });
    if (encoder !== o.textEncoder) owned.push(encoder);
    emit({ phase: 'load', target: 'tokenizer' });
    const tokenizer = typeof o.tokenizer === 'object' ? o.tokenizer : await loadTokenizer(tokenizerDir!);
    emit({ phase: 'load', target: 'vae' });
    const vae = o.vae instanceof Vae ? o.vae : await loadVae(vaeDir!, { signal: o.signal });
    if (vae !== o.vae) owned.push(vae);
    if (vae.config.latent_channels !== model.config.in_channels) {
      throw new InvalidArgumentError(`Expected a VAE with ${model.config.in_channels} latent channels but '${vae.file}' has ${vae.config.latent_channels}`);
    }
    stop('after loading');

    const cache = o.cache === undefined || o.cache === 'none' ? false : o.cache;
    const pipe = new Pipeline(model, {
      steps: o.steps ?? 50, cfgScale: o.cfg ?? 7.5, cache, textEncoder: encoder, tokenizer,
      cleanCaption: o.cleanCaption === false ? undefined : cleanCaption,
      timestepSpacing: o.timestepSpacing ?? layout?.scheduler.timestepSpacing, stepsOffset: o.stepsOffset ?? layout?.scheduler.stepsOffset,
      setAlphaToOne: o.setAlphaToOne ?? layout?.scheduler.setAlphaToOne,
    });
    owned.push(pipe);
    pipe.init({ prompts: o.prompts, negativePrompt: o.negativePrompt, seed: o.seed ?? 0, frames });
    const total = pipe.sampler.steps;
    emit({ phase: 'encode' });
    emit({ phase: 'sample', completed: 0, total });
    const started = performance.now();
    const samples = await pipe.run({ signal: o.signal, onStep: (step) => emit({ phase: 'sample', completed: step.index + 1, total, step }) });
    const encodeMs = pipe.history[0]?.encodeMs ?? 0;
    const sampleMs = performance.now() - started - encodeMs;
    stop('after sampling');

    const decodeStarted = performance.now();
    emit({ phase: 'decode', completed: 0, total: 1 });
    const video = await vae.decodeVideo(samples, { signal: o.signal });
    emit({ phase: 'decode', completed: 1, total: 1 });
    const decodeMs = performance.now() - decodeStarted;
    stop('after decoding');
    const images = videoFrames(video);
    emit({ phase: 'write', out });
    if (format === 'png') writePng(out, images[0]);
    else if (format === 'gif') writeOutput(out, encodeGif(images, { fps: o.fps }));
    else if (format === 'mp4') writeMp4(out, images, { fps: o.fps });
    else writePngSequence(out, images);
    const stats = pipe.cacheStats;
    const report: VideoReport = {
      model: layout?.checkpoint ?? null, textEncoder: textEncoderDir ?? encoder.dir, vae: vaeDir ?? vae.file, out, format,
      prompts: o.prompts, frames, steps: total, cfgScale: pipe.cfgScale ?? null, cache: pipe.cachePolicy ?? null, seed: o.seed ?? 0,
      timesteps: [...pipe.timesteps], encodeMs, sampleMs, decodeMs, fullSteps: stats.fullSteps, cachedSteps: stats.cachedSteps,
      predictedSpeedup: stats.predictedSpeedup, stepsDetail: pipe.history.map((s) => ({ index: s.index, timestep: s.timestep, cached: s.cached, ms: s.ms })),
    };
    return { samples, video, images, report };
  } finally {
    for (const d of owned.reverse()) d.dispose();
  }
}
