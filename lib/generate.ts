// generate(): what `skipdit generate` and `skipdit sample` do, as one library call without console output:
// load the model (default: the bundled digits model with its recommended settings) and the VAE, check every
// option before the long work, sample (CFG, Skip-Cache), decode, and write a PNG grid, a video (GIF, MP4, PNG
// frames) or the raw latents (safetensors). lib/cli.ts parses arguments, calls it and prints.
import path from 'node:path';
import { families } from './architecture.js';
import { autoBackend, type BackendName } from './backends.js';
import { bundledModel } from './bundled.js';
import type { CachePolicy, CachePolicyInput } from './cache.js';
import type { ModelConfig, ModelConfigInput, PresetName } from './config.js';
import { AbortError, InvalidArgumentError, checkFloat32 } from './errors.js';
import { imageGrid, writePng, type Image } from './image.js';
import { Model, loadModel } from './model.js';
import { checkOutputPath, writeOutput } from './output.js';
import { Pipeline, type StepInfo } from './pipeline.js';
import type { LoadProgress } from './progress.js';
import { encodeSafetensors } from './safetensors.js';
import type { PipelineSamplerName as SamplerName } from './pipeline.js';
import type { Tensor } from './tensor.js';
import { Vae, loadVae } from './vae.js';
import { checkFps, encodeGif, ffmpegAvailable, writeMp4, writePngSequence } from './video.js';

/** Pictures: 'png' (a grid of images), 'gif' / 'mp4' / 'frames' (a folder of PNG frames) for videos; or the latents. */
export type GenerateFormat = 'png' | 'gif' | 'mp4' | 'frames' | 'safetensors';
export type PictureFormat = Exclude<GenerateFormat, 'safetensors'>;

export interface GenerateOptions {
  /** A weights file (.safetensors or torch .pt) or a loaded Model (not disposed here); default: the bundled digits model. */
  model?: string | Model;
  /** Loading a model file: loadModel's config (preset name or fields), checkpointKey and backend (default 'auto'). */
  config?: PresetName | ModelConfigInput;
  checkpointKey?: string;
  backend?: 'auto' | 'cpu' | 'cuda';
  /** The VAE of a latent model: a diffusers folder, a weights file or a loaded Vae (not disposed here). */
  vae?: string | Vae;
  /** Class labels (class-conditional models); they repeat to fill `n` pictures. */
  classes?: number[];
  /** Number of images / videos (default: one per label, else 1); for 'safetensors', the batch of an unconditional model. */
  n?: number;
  /** Latte: frames per video, which must be the model's num_frames (the check is all it does). */
  frames?: number;
  /**
   * Sampling; the defaults are the official sample scripts' for pictures (DiT DDPM 250 steps, CFG 4; Latte DDIM 50,
   * CFG 7; the bundled model DDIM 50, CFG 3), and a plain Pipeline's for 'safetensors' (DDIM 50, no guidance).
   */
  steps?: number | string;
  sampler?: SamplerName;
  /** DDIM eta: only with `sampler: 'ddim'`. ('dpmsolver++': diffusers' DPM-Solver++(2M), good at 10-25 steps.) */
  eta?: number;
  /** Classifier-free guidance scale (> 1 enables it). */
  cfg?: number;
  cfgChannels?: 'official' | 'all';
  /** Skip-Cache: false or 'none' (default), a preset such as 'dit:2' or 'dit:2:1', or a policy. */
  cache?: false | 'none' | CachePolicyInput;
  /** Seed of all noise (default 0). */
  seed?: number;
  /** Pictures per grid row (default 4 for DiT as sample.py, a square grid for Latte and the bundled model). */
  nrow?: number;
  /** Video frames per second (default 8). */
  fps?: number;
  /** Default: from `out`'s extension for videos (.gif, .mp4, else a folder of frames), 'png' for images. */
  format?: GenerateFormat;
  /** The file (or frame folder) to write, checked before sampling; default samples.png, samples.gif or latents.safetensors. */
  out?: string;
  /** Aborts the run: the step in flight stops at its next transformer block, nothing is written, and generate() rejects with AbortError. */
  signal?: AbortSignal;
  onProgress?: (event: GenerateProgress) => void;
  /**
   * How error messages name the options; default their names here. The CLI passes its flags, e.g.
   * `{ classes: '--class <label...>', n: '--batch' }` (the first word where a message wants the bare name).
   */
  optionNames?: Partial<Record<keyof GenerateOptions, string>>;
}

export type GenerateProgress =
  /**
   * Loading a model or VAE file (not a loaded Model or Vae): tensors bound so far, as loadModel's onProgress (at most
   * every 50 ms, the last one with completed === total).
   */
  | { phase: 'load'; target: 'model' | 'vae'; completed: number; total: number; unit: 'tensors' }
  /** The model is loaded (a VAE loads next); `fallback` says why 'auto' runs on the CPU when a CUDA device failed its self-test. */
  | { phase: 'load'; backend: BackendName; fallback?: string }
  /** Sampling: `completed` 0 before the first step, then after each step with its StepInfo. */
  | { phase: 'sample'; completed: number; total: number; timesteps: readonly number[]; step?: StepInfo }
  /** VAE decoding, one image or video frame at a time: 0 before the first, then after each. */
  | { phase: 'decode'; completed: number; total: number }
  /** The output is about to be written (nothing is written before). */
  | { phase: 'write'; out: string };

/** The `skipdit generate --json` report. */
export interface ImagesReport {
  model: string | null;
  vae: string | null;
  out: string;
  labels: number[] | null;
  frames: number;
  sampler: SamplerName;
  steps: number;
  cfgScale: number | null;
  seed: number;
  cache: CachePolicy | null;
  sampleMs: number;
  decodeMs: number;
  cachedSteps: number;
  fullSteps: number;
  predictedSpeedup: number;
  steps_detail: { index: number; timestep: number; cached: boolean; ms: number }[];
}

/** The `skipdit sample --json` report. */
export interface LatentsReport {
  model: string | null;
  backend: BackendName;
  out: string;
  shape: number[];
  sampler: SamplerName;
  steps: number;
  cfgScale: number | null;
  seed: number;
  cache: CachePolicy | null;
  totalMs: number;
  stepsDetail: { index: number; timestep: number; cached: boolean; blocksExecuted: number; ms: number; gflop: number }[];
  fullSteps: number;
  cachedSteps: number;
  blocksExecuted: number;
  blocksTotal: number;
  gflopExecuted: number;
  gflopUncached: number;
  predictedSpeedup: number;
  /** What an uncached run would have taken at this run's mean full-step time, over the actual time. */
  observedSpeedupEstimate: number;
}

export interface ImagesResult {
  format: PictureFormat;
  out: string;
  /** The sampler's output: the conditional half when guiding; latents of a latent model. */
  samples: Tensor;
  /** What was written: one grid ('png'), or one grid per video frame (frame f of every video). */
  images: Image[];
  report: ImagesReport;
}

export interface LatentsResult {
  format: 'safetensors';
  out: string;
  samples: Tensor;
  report: LatentsReport;
}

export type GenerateResult = ImagesResult | LatentsResult;

const FORMATS: readonly GenerateFormat[] = ['png', 'gif', 'mp4', 'frames', 'safetensors'];
const DEFAULT_OUT: Record<GenerateFormat, string> = {
  png: 'samples.png', gif: 'samples.gif', mp4: 'samples.mp4', frames: 'samples', safetensors: 'latents.safetensors',
};
/** Latents are the sampling loop as a plain Pipeline runs it (and guide only when asked). */
const PIPELINE_DEFAULTS = { sampler: 'ddim' as const, steps: 50 };

/** The official sample scripts' defaults: DiT sample.py DDPM 250 / CFG 4; Latte ucf101 DDIM 50 / CFG 7. */
function officialDefaults(c: ModelConfig, bundled: boolean) {
  if (bundled) return bundledModel.defaults;
  if (c.family === 'latte') return c.num_classes > 0 ? { sampler: 'ddim' as const, steps: 50, cfgScale: 7 } : { sampler: 'ddpm' as const, steps: 250, cfgScale: 1 };
  return { sampler: 'ddpm' as const, steps: 250, cfgScale: 4 };
}

type Names = ReturnType<typeof optionNamer>;
function optionNamer(names: GenerateOptions['optionNames'] = {}) {
  const usage = (key: keyof GenerateOptions) => names[key] ?? key;
  return { usage, name: (key: keyof GenerateOptions) => usage(key).split(' ')[0] };
}

/**
 * Samples with a Skip-DiT / DiT / Latte model and writes a PNG grid, a video or the latents; see GenerateOptions.
 * Every option is checked before sampling (what the options alone tell, before loading), with typed errors.
 */
export function generate(options: GenerateOptions & { format: 'safetensors' }): Promise<LatentsResult>;
export function generate(options?: GenerateOptions & { format?: PictureFormat }): Promise<ImagesResult>;
export function generate(options?: GenerateOptions): Promise<GenerateResult>;
export async function generate(o: GenerateOptions = {}): Promise<GenerateResult> {
  if (typeof o !== 'object' || o === null) throw InvalidArgumentError.expected('options', 'an object', o);
  const names = optionNamer(o.optionNames);
  const latents = o.format === 'safetensors';
  checkOptions(o, names);
  // The latents' output is known before the model: checked before loading it.
  if (latents) checkOutputPath(o.out ?? DEFAULT_OUT.safetensors, 'file', names.name('out'));
  throwIfAborted(o.signal, 'before loading');

  const given = o.model instanceof Model ? o.model : undefined;
  const file = typeof o.model === 'string' ? o.model : given ? undefined : bundledModel.path();
  const loading = (target: 'model' | 'vae') => o.onProgress && ((p: LoadProgress) => emit(o, { ...p, target }));
  const model = given ?? (await loadModel(file!, {
    config: o.config, backend: o.backend ?? 'auto', checkpointKey: o.checkpointKey, signal: o.signal, onProgress: loading('model'),
  }));
  let vae: Vae | undefined;
  let pipe: Pipeline | undefined;
  try {
    emit(o, { phase: 'load', backend: model.backend, fallback: given ? undefined : await cudaFallback(o.backend) });
    vae = typeof o.vae === 'string' ? await loadVae(o.vae, { signal: o.signal, onProgress: loading('vae') }) : o.vae;
    const run = plan(o, names, model, vae, file);
    pipe = new Pipeline(model, run.pipeline);
    pipe.init({ labels: run.labels, batch: run.labels ? undefined : run.n, seed: o.seed ?? 0 });

    const { timesteps, sampler: { steps: total } } = pipe;
    emit(o, { phase: 'sample', completed: 0, total, timesteps });
    const started = performance.now();
    const samples = await pipe.run({
      signal: o.signal,
      onStep: (step) => emit(o, { phase: 'sample', completed: step.index + 1, total, timesteps, step }),
    });
    const sampleMs = performance.now() - started;
    throwIfAborted(o.signal, 'after sampling'); // during the last step: run() checks only before each step
    if (run.format === 'safetensors') {
      emit(o, { phase: 'write', out: run.out });
      writeOutput(run.out, encodeSafetensors({ samples }, latentsMetadata(o, run, pipe, model, file)));
      return { format: run.format, out: run.out, samples, report: latentsReport(o, run, pipe, model, file, samples, sampleMs) };
    }

    const decodeStarted = performance.now();
    const pixels = vae ? await decodeFrames(o, vae, samples, model.config) : samples;
    const decodeMs = performance.now() - decodeStarted;
    const images = pictures(pixels, run.n, model.config, run.nrow);
    emit(o, { phase: 'write', out: run.out });
    writePictures(run.format, run.out, images, o.fps);
    const stats = pipe.cacheStats;
    const report: ImagesReport = {
      model: file ?? null, vae: typeof o.vae === 'string' ? o.vae : o.vae?.file ?? null, out: run.out, labels: run.labels ?? null,
      frames: families[model.config.family].video ? model.config.num_frames : 1, sampler: run.pipeline.sampler,
      steps: pipe.sampler.steps, cfgScale: pipe.cfgScale ?? null, seed: o.seed ?? 0, cache: pipe.cachePolicy ?? null,
      sampleMs, decodeMs, cachedSteps: stats.cachedSteps, fullSteps: stats.fullSteps, predictedSpeedup: stats.predictedSpeedup,
      steps_detail: pipe.history.map((s) => ({ index: s.index, timestep: s.timestep, cached: s.cached, ms: s.ms })),
    };
    return { format: run.format, out: run.out, samples, images, report };
  } finally {
    pipe?.dispose();
    if (vae !== o.vae) vae?.dispose();
    if (model !== given) model.dispose();
  }
}

/** What the options alone can tell, checked before anything loads. */
function checkOptions(o: GenerateOptions, { name }: Names): void {
  if (o.format !== undefined && !FORMATS.includes(o.format)) throw InvalidArgumentError.expected(name('format'), FORMATS.map((f) => `'${f}'`).join(', '), o.format);
  if (o.model !== undefined && typeof o.model !== 'string' && !(o.model instanceof Model)) {
    throw InvalidArgumentError.expected(name('model'), 'a weights file path or a Model from loadModel()', o.model);
  }
  for (const key of ['config', 'checkpointKey', 'backend'] as const) {
    if (o.model instanceof Model && o[key] !== undefined) throw InvalidArgumentError.expected(name(key), 'nothing with a loaded Model (they are loading options)', o[key]);
  }
  if (o.format === 'safetensors' && o.vae !== undefined) throw InvalidArgumentError.expected(name('vae'), "no VAE for 'safetensors' (the latents are written undecoded)", o.vae);
  if (o.vae !== undefined && typeof o.vae !== 'string' && !(o.vae instanceof Vae)) throw InvalidArgumentError.expected(name('vae'), 'a path or a Vae from loadVae()', o.vae);
  checkFloat32(name('cfg'), o.cfg);
  checkFloat32(name('eta'), o.eta);
  if (o.eta !== undefined && o.sampler !== 'ddim') {
    throw new InvalidArgumentError(`Expected ${name('eta')} only with ${name('sampler')} ddim (a DDIM parameter) but received ${name('eta')} ${o.eta} with ${name('sampler')} ${o.sampler}`);
  }
  if (o.nrow !== undefined && !(Number.isInteger(o.nrow) && o.nrow >= 1)) throw InvalidArgumentError.expected(name('nrow'), 'a positive integer', o.nrow);
  checkFps(o.fps, name('fps'));
  if (o.classes !== undefined && !(Array.isArray(o.classes) && o.classes.length > 0)) throw InvalidArgumentError.expected(name('classes'), 'an array of class labels', o.classes);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw InvalidArgumentError.expected(name('onProgress'), 'a function', o.onProgress);
}

interface Plan {
  labels?: number[];
  n: number;
  format: GenerateFormat;
  out: string;
  nrow: number;
  pipeline: { sampler: SamplerName; steps: number | string; eta?: number; cfgScale?: number; cfgChannels?: 'official' | 'all'; cache: false | CachePolicyInput };
}

/** What the options and the loaded model tell together: the batch, the output and the Pipeline options. */
function plan(o: GenerateOptions, { name, usage }: Names, model: Model, vae: Vae | undefined, file: string | undefined): Plan {
  const c = model.config;
  if (c.family === 'latte-t2v') {
    throw new InvalidArgumentError(`Expected a class-conditional or unconditional model but ${file ? `'${file}'` : 'the model'} is text-to-video (LatteT2V): give prompts (skipdit generate --prompt, generateVideo())`);
  }
  const video = families[c.family].video;
  const latents = o.format === 'safetensors';
  const pixelModel = !video && (c.in_channels === 1 || c.in_channels === 3);
  if (!latents && !vae && !pixelModel) {
    throw new InvalidArgumentError(`Expected ${usage('vae')} for ${file ? `'${file}'` : 'this model'}: it makes ${video ? 'video ' : ''}latents with ${c.in_channels} channels`);
  }
  if (vae && vae.config.latent_channels !== c.in_channels) {
    throw new InvalidArgumentError(`Expected a VAE with ${c.in_channels} latent channels for this model but '${typeof o.vae === 'string' ? o.vae : vae.file}' has ${vae.config.latent_channels}`);
  }
  if (o.frames !== undefined && (!video || o.frames !== c.num_frames)) {
    throw new InvalidArgumentError(`Expected ${name('frames')} ${video ? c.num_frames : '(only for Latte models)'} (the model's num_frames) but received ${o.frames}`);
  }
  const { labels, n } = batch(o, { name, usage }, c);
  const bundled = o.model === undefined;
  const official = officialDefaults(c, bundled);
  const defaults = latents ? PIPELINE_DEFAULTS : official;
  const pipeline = {
    sampler: o.sampler ?? defaults.sampler, steps: o.steps ?? defaults.steps, eta: o.eta, cfgChannels: o.cfgChannels,
    // Pictures of a model without a null class (class_dropout_prob 0) cannot guide: its default is no guidance.
    cfgScale: latents ? o.cfg : labels ? o.cfg ?? (c.class_dropout ? official.cfgScale : 1) : undefined,
    cache: o.cache === undefined || o.cache === 'none' ? (false as const) : o.cache,
  };
  if (latents) return { labels, n, format: 'safetensors', out: o.out ?? DEFAULT_OUT.safetensors, nrow: 0 /* no pictures */, pipeline };

  // The output is checked before sampling. Videos default to a GIF: a folder named samples.png would mislead.
  const out = o.out ?? DEFAULT_OUT[o.format ?? (video ? 'gif' : 'png')];
  const ext = path.extname(out).toLowerCase();
  if (video && o.format === undefined && ext === '.png') throw InvalidArgumentError.expected(name('out'), 'a .gif, an .mp4 or a folder name (PNG frames) for a video', out);
  const format = o.format ?? (!video ? 'png' : ext === '.gif' ? 'gif' : ext === '.mp4' ? 'mp4' : 'frames');
  if (video === (format === 'png')) throw InvalidArgumentError.expected(name('format'), video ? "'gif', 'mp4' or 'frames' for a video model" : "'png' or 'safetensors' for an image model", format);
  if (format === 'mp4' && !ffmpegAvailable()) throw new InvalidArgumentError('Expected an ffmpeg binary on PATH to write MP4 (write a .gif or a PNG frame folder instead)');
  checkOutputPath(out, format === 'frames' ? 'folder' : 'file', name('out'));
  const nrow = o.nrow ?? (video || bundled ? Math.ceil(Math.sqrt(n)) : 4);
  return { labels, n, format, out, nrow, pipeline };
}

/**
 * The samples' labels and count. Pictures repeat the labels to fill n (at most 1024); latents take one sample per
 * label, n being the batch of an unconditional model only.
 */
function batch(o: GenerateOptions, { name, usage }: Names, c: ModelConfig): { labels?: number[]; n: number } {
  const conditional = c.num_classes > 0;
  if (conditional && !o.classes) throw new InvalidArgumentError(`Expected ${usage('classes')} for a class-conditional model (classes 0..${c.num_classes - 1})`);
  if (!conditional && o.classes) throw new InvalidArgumentError(`Expected no ${name('classes')} for an unconditional model (use ${name('n')})`);
  if (o.format === 'safetensors') {
    if (conditional && o.n !== undefined) {
      throw new InvalidArgumentError(`Expected no ${name('n')} for a class-conditional model (one sample per ${name('classes')} label) but received ${name('n')} ${o.n}`);
    }
    return conditional ? { labels: o.classes, n: o.classes!.length } : { n: o.n ?? 1 }; // Pipeline.init checks the values
  }
  if (!conditional && o.cfg !== undefined) throw new InvalidArgumentError(`Expected no ${name('cfg')} for an unconditional model (guidance needs class labels) but received ${name('cfg')} ${o.cfg}`);
  // n repeats the classes to fill the batch; fewer samples than classes would drop some.
  if (o.classes && o.n !== undefined && o.n < o.classes.length) {
    throw InvalidArgumentError.expected(name('n'), `at least ${o.classes.length} (one sample per ${name('classes')} label; a larger ${name('n')} repeats them)`, o.n);
  }
  const n = o.n ?? o.classes?.length ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError(`Expected ${name('n')} in [1, 1024] but received ${o.n}`);
  return { labels: o.classes && Array.from({ length: n }, (_, i) => o.classes![i % o.classes!.length]), n };
}

/** Why 'auto' runs on the CPU, when a CUDA device failed this process's self-test. */
async function cudaFallback(backend: GenerateOptions['backend']): Promise<string | undefined> {
  if (backend !== undefined && backend !== 'auto') return undefined;
  const auto = await autoBackend();
  return auto.selfTest && !auto.selfTest.passed ? auto.reason : undefined;
}

/** The VAE decode of every image / video frame, one at a time (the memory of one image). */
async function decodeFrames(o: GenerateOptions, vae: Vae, samples: Tensor, c: ModelConfig): Promise<Tensor> {
  const shape = [c.in_channels, c.input_size, c.input_size];
  const per = shape[0] * shape[1] * shape[2];
  const count = samples.data.length / per;
  const parts: Tensor[] = [];
  emit(o, { phase: 'decode', completed: 0, total: count });
  for (let i = 0; i < count; i++) {
    parts.push(await vae.decode({ data: samples.data.subarray(i * per, (i + 1) * per), shape: [1, ...shape] }, { signal: o.signal }));
    throwIfAborted(o.signal, `after decoding ${i + 1} of ${count} images`);
    emit(o, { phase: 'decode', completed: i + 1, total: count });
  }
  const data = new Float32Array(parts.reduce((a, p) => a + p.data.length, 0));
  parts.forEach((p, i) => data.set(p.data, i * p.data.length));
  return { data, shape: [count, ...parts[0].shape.slice(1)] };
}

/** Image grids of the pixels (n images, or n videos of F frames each): one grid, or one per frame. */
function pictures(pixels: Tensor, n: number, c: ModelConfig, nrow: number): Image[] {
  const [, C, H, W] = pixels.shape;
  if (!families[c.family].video) return [imageGrid({ data: pixels.data, shape: [n, C, H, W] }, { nrow })];
  // One frame of the output = frame f of every video, tiled like an image grid.
  const F = c.num_frames;
  return Array.from({ length: F }, (_, f) => {
    const frame = { data: new Float32Array(n * C * H * W), shape: [n, C, H, W] };
    for (let v = 0; v < n; v++) frame.data.set(pixels.data.subarray((v * F + f) * C * H * W, (v * F + f + 1) * C * H * W), v * C * H * W);
    return imageGrid(frame, { nrow });
  });
}

function writePictures(format: GenerateFormat, out: string, images: Image[], fps: number | undefined): void {
  if (format === 'png') writePng(out, images[0]);
  else if (format === 'gif') writeOutput(out, encodeGif(images, { fps }));
  else if (format === 'mp4') writeMp4(out, images, { fps });
  else writePngSequence(out, images);
}

/** The latents file's metadata: the config and the sampling settings. */
function latentsMetadata(o: GenerateOptions, run: Plan, pipe: Pipeline, model: Model, file: string | undefined): Record<string, string> {
  return {
    ...(file === undefined ? {} : { model: path.basename(file) }),
    config: JSON.stringify(model.config),
    sampler: run.pipeline.sampler,
    steps: String(pipe.sampler.steps),
    seed: String(o.seed ?? 0),
    labels: JSON.stringify(o.classes ?? []),
    cfg_scale: String(pipe.cfgScale ?? 1),
    cache: JSON.stringify(pipe.cachePolicy ?? false),
  };
}

function latentsReport(o: GenerateOptions, run: Plan, pipe: Pipeline, model: Model, file: string | undefined, samples: Tensor, totalMs: number): LatentsReport {
  const stats = pipe.cacheStats;
  const full = pipe.history.filter((s) => !s.cached);
  const fullMs = full.reduce((a, s) => a + s.ms, 0) / Math.max(1, full.length);
  return {
    model: file ?? null, backend: model.backend, out: run.out, shape: samples.shape,
    sampler: run.pipeline.sampler, steps: pipe.sampler.steps, cfgScale: pipe.cfgScale ?? null, seed: o.seed ?? 0,
    cache: pipe.cachePolicy ?? null,
    totalMs,
    stepsDetail: pipe.history.map((s) => ({ index: s.index, timestep: s.timestep, cached: s.cached, blocksExecuted: s.blocksExecuted, ms: s.ms, gflop: s.flops / 1e9 })),
    fullSteps: stats.fullSteps, cachedSteps: stats.cachedSteps, blocksExecuted: stats.blocksExecuted, blocksTotal: stats.blocksTotal,
    gflopExecuted: stats.flopsExecuted / 1e9, gflopUncached: stats.flopsUncached / 1e9,
    predictedSpeedup: stats.predictedSpeedup,
    observedSpeedupEstimate: (fullMs * pipe.sampler.steps) / totalMs,
  };
}

function emit(o: GenerateOptions, event: GenerateProgress): void {
  o.onProgress?.(event);
}

function throwIfAborted(signal: AbortSignal | undefined, when: string): void {
  if (signal?.aborted) throw new AbortError(`Generation aborted ${when}; nothing was written`, { cause: signal.reason });
}
