#!/usr/bin/env node
// The skipdit command line: argument parsing and printing. `skipdit generate` (pictures) and `skipdit sample`
// (latents) call generate() (lib/generate.ts) with Ctrl-C wired to its AbortSignal; `skipdit backends` says what
// can run here; `skipdit bench` measures this machine (lib/bench.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { convertCheckpoint, inspectCheckpoint } from './checkpoint.js';
import { presets, type ModelConfig, type ModelConfigInput, type PresetName } from './config.js';
import { cachePresets, type CachePolicyInput } from './cache.js';
import { AbortError, HubOfflineError, InvalidArgumentError, SkipditError } from './errors.js';
import { backends, loadModel, type Model, type ModelDType } from './model.js';
import { checkOutputPath, writeOutput } from './output.js';
import { autoBackend } from './backends.js';
import { benchConfig, benchSizes, formatBenchReport, randomCheckpoint, runBench, type BenchFamily, type BenchSize } from './bench.js';
import { bundledModel } from './bundled.js';
import { loadVae, type Vae } from './vae.js';
import { formatQualityTable, parseSetting, qualityPlotPng, runQualityBench } from './quality.js';
import { registerQueueCommands } from './cli-queue.js';
import { formatSmoothnessTable, runSmoothnessProbe, smoothnessPlotPng } from './smoothness.js';
import { digitsClassifier, loadDigits } from './quality-metrics.js';
import { generate, type GenerateOptions, type GenerateProgress, type GenerateResult, type ImagesResult, type LatentsResult } from './generate.js';
import { encodeToFile, type EncodeArgs } from './encode.js';
import { generateVideo, type GenerateVideoOptions, type TextRunTimings, type VideoProgress } from './generate-t2v.js';
import { generateHunyuan, isHunyuanPath } from './generate-hunyuan.js';
import { isHfUri, localPath, resolveHfUri } from './hub/uri.js';
import { isRecipeName, pull, recipes, type PullResult } from './hub/recipes.js';
import { describeSnapshots, downloadBars, formatBytes } from './hub/download-bars.js';
import type { HubOptions } from './hub/settings.js';
import type { Snapshot } from './hub/hub.js';

const integer = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new CommanderArgumentError(`${name} must be an integer, got '${value}'`);
  return n;
};
const number = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CommanderArgumentError(`${name} must be a number, got '${value}'`);
  return n;
};
/** --config '{"num_heads": 4}': fields the file cannot tell (merged over what it can). */
const configJson = (value: string): ModelConfigInput => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new CommanderArgumentError(`--config must be a JSON object, got '${value}'`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CommanderArgumentError('--config must be a JSON object');
  return parsed as ModelConfigInput;
};
const configOption = () => new Option('--config <json>', 'config fields as JSON (e.g. \'{"num_heads": 4}\'), merged over what the file tells').argParser(configJson);
const collect = (parse: (v: string) => number) => (value: string, previous: number[] = []) => [...previous, parse(value)];

/** How generate()'s errors name its options: by these flags. */
const flags = {
  classes: '--class <label...>', vae: '--vae <sd-vae-ft-ema folder or file>', n: '--n', frames: '--frames', sampler: '--sampler',
  eta: '--eta', cfg: '--cfg', nrow: '--nrow', fps: '--fps', out: '--out',
} satisfies GenerateOptions['optionNames'];

/** A command's progress bars, driven by generate()'s onProgress; stop() may be called more than once. */
interface Progress {
  update(event: GenerateProgress): void;
  stop(): void;
}

function progressBars<E extends { phase: string } = GenerateProgress>(bars: { stop(): void } | undefined, update: (event: E) => void): { update(event: E): void; stop(): void } {
  let stopped = false;
  const stop = () => {
    if (!stopped) bars?.stop();
    stopped = true;
  };
  return { update: (e) => (e.phase === 'write' ? stop() : update(e)), stop };
}

/**
 * Runs generate() with Ctrl-C wired to its AbortSignal: the first aborts it (the step in flight stops at its next block, nothing
 * is written; one line on stderr, exit code 130), a second exits at once. Undefined when interrupted.
 */
async function interruptible<T extends GenerateResult>(options: GenerateOptions, progress: Progress): Promise<T | undefined> {
  return interruptibleRun((signal, onProgress) => generate({ ...options, signal, onProgress }) as Promise<T>, progress);
}

/** Runs `run` with Ctrl-C wired to its signal: the first stops it (nothing written, exit 130), the second kills. */
async function interruptibleRun<T, E extends { phase: string } = GenerateProgress>(
  run: (signal: AbortSignal, onProgress: (e: E) => void) => Promise<T>, progress: { update(e: E): void; stop(): void },
): Promise<T | undefined> {
  const controller = new AbortController();
  let completed = 0;
  let total: number | undefined;
  const interrupted = () => {
    progress.stop(); // restores the cursor
    console.error(`skipdit: interrupted ${total === undefined ? 'before sampling' : `after ${completed} of ${total} steps`}; nothing written`);
  };
  const interrupt = () => {
    if (!controller.signal.aborted) return controller.abort();
    interrupted();
    // Dies of SIGINT itself (the shell's 130): process.exit() would wait for the native step in flight to end.
    process.off('SIGINT', interrupt);
    process.kill(process.pid, 'SIGINT');
  };
  process.on('SIGINT', interrupt);
  try {
    return await run(controller.signal, (e) => {
      if (e.phase === 'load' && 'backend' in e && (e as { fallback?: string }).fallback) console.error(`skipdit: ${(e as { fallback?: string }).fallback}; running on the CPU`);
      if (e.phase === 'sample') ({ completed, total } = e as unknown as { completed: number; total: number });
      progress.update(e);
    });
  } catch (err) {
    if (!(err instanceof AbortError && controller.signal.aborted)) {
      progress.stop();
      throw err;
    }
    interrupted();
    process.exitCode = 130;
    return undefined;
  } finally {
    process.off('SIGINT', interrupt);
  }
}

interface SampleArgs {
  model: string;
  key?: string;
  config?: ModelConfigInput;
  preset?: PresetName;
  backend: 'auto' | 'cpu' | 'cuda';
  class?: number[];
  batch?: number;
  steps: number;
  sampler: 'ddim' | 'ddpm' | 'dpmsolver++';
  eta?: number;
  cfg?: number;
  cfgChannels: 'official' | 'all';
  cache?: string;
  seed: number;
  out: string;
  json?: boolean;
}

async function sample(opts: SampleArgs): Promise<void> {
  const bar = opts.json ? undefined : new cliProgress.SingleBar(
    { format: 'sampling [{bar}] {value}/{total} steps | t={timestep} {kind} | {duration_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  const result = await interruptible<LatentsResult>({
    model: opts.model, checkpointKey: opts.key, config: opts.config ?? opts.preset, backend: opts.backend, format: 'safetensors',
    classes: opts.class, n: opts.batch, steps: opts.steps, sampler: opts.sampler, eta: opts.eta, cfg: opts.cfg, cfgChannels: opts.cfgChannels,
    cache: opts.cache as CachePolicyInput | undefined, seed: opts.seed, out: opts.out, optionNames: { ...flags, n: '--batch' },
  }, progressBars(bar, (e) => {
    if (e.phase !== 'sample') return;
    if (!e.step) bar?.start(e.total, 0, { timestep: e.timesteps[0], kind: '' });
    else bar?.update(e.completed, { timestep: e.step.timestep, kind: e.step.cached ? 'cached' : 'full  ' });
  }));
  if (!result) return;
  const r = result.report;
  if (opts.json) {
    console.log(JSON.stringify(r, null, 2));
  } else {
    console.log(`wrote ${r.out}: samples [${r.shape.join(', ')}] in ${(r.totalMs / 1000).toFixed(2)} s`);
    console.log(`steps: ${r.fullSteps} full, ${r.cachedSteps} cached; blocks ${r.blocksExecuted}/${r.blocksTotal}; ` +
      `${r.gflopExecuted.toFixed(2)} of ${r.gflopUncached.toFixed(2)} GFLOP; speedup predicted ${r.predictedSpeedup.toFixed(2)}x, ` +
      `observed ~${r.observedSpeedupEstimate.toFixed(2)}x`);
  }
}

const program = new Command();
program.name('skipdit').description('Skip-DiT diffusion transformers with Skip-Cache').showHelpAfterError();

program
  .command('sample')
  .description('run the sampling loop on a checkpoint and write the latents (safetensors, tensor "samples")')
  .requiredOption('--model <file>', 'weights: .safetensors or torch .pt (official state_dict names)')
  .option('--key <name>', 'state dict of a training checkpoint (default: ema, then model)')
  .addOption(new Option('--preset <name>', 'model config when the file has none').choices(Object.keys(presets)))
  .addOption(configOption())
  .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
  .option('--class <label...>', 'class label(s), one sample each (conditional models)', (v: string, p?: number[]) => collect(integer('--class'))(v, p))
  .option('--batch <n>', 'samples of an unconditional model', integer('--batch'))
  .option('--steps <n>', 'sampling steps', integer('--steps'), 50)
  .addOption(new Option('--sampler <name>', 'sampler (dpmsolver++: DPM-Solver++(2M), for 10-25 steps)').choices(['ddim', 'ddpm', 'dpmsolver++']).default('ddim'))
  .option('--eta <x>', 'DDIM eta', number('--eta'))
  .option('--cfg <scale>', 'classifier-free guidance scale (> 1 enables it)', number('--cfg'))
  .addOption(new Option('--cfg-channels <mode>', 'guided channels').choices(['official', 'all']).default('official'))
  .option('--cache <policy>', `Skip-Cache: none, ${Object.keys(cachePresets).join(', ')}, optionally ':N' (e.g. dit:2)`)
  .option('--seed <n>', 'seed of all noise', integer('--seed'), 0)
  .option('--out <file>', 'output safetensors file', 'latents.safetensors')
  .option('--json', 'print a JSON report (per-step timings, cached steps, blocks, FLOPs)')
  .action(sample);

interface GenerateArgs {
  model?: string;
  key?: string;
  config?: ModelConfigInput;
  preset?: PresetName;
  vae?: string;
  backend: 'auto' | 'cpu' | 'cuda';
  class?: number[];
  n?: number;
  frames?: number;
  steps?: number;
  sampler?: 'ddim' | 'ddpm' | 'dpmsolver++';
  cfg?: number;
  cache?: string;
  seed: number;
  nrow?: number;
  fps: number;
  out?: string;
  json?: boolean;
  // text-to-video
  prompt?: string[];
  negativePrompt?: string;
  textEncoder?: string;
  tokenizer?: string;
  dtype?: ModelDType;
  timestepSpacing?: 'leading' | 'linspace' | 'trailing';
  stepsOffset?: number;
  clean?: boolean;
  size?: number[];
  bert?: string;
  bertTokenizer?: string;
  mt5?: string;
  base?: string;
}

/** How generateVideo()'s errors name its options: by these flags. */
const videoFlags = {
  prompts: '--prompt', negativePrompt: '--negative-prompt', textEncoder: '--text-encoder <folder>', tokenizer: '--tokenizer <folder>',
  vae: '--vae <vae_temporal_decoder folder>', model: '--model', frames: '--frames', steps: '--steps', cfg: '--cfg', seed: '--seed', fps: '--fps', out: '--out',
} satisfies GenerateVideoOptions['optionNames'];

/** "<total> s (text, sampling, decoding), <k> of <n> steps cached" of a prompt run. */
function textRunTimings(r: TextRunTimings): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return `${s(r.encodeMs + r.sampleMs + r.decodeMs)} (text ${s(r.encodeMs)}, sampling ${s(r.sampleMs)}, decoding ${s(r.decodeMs)}), ${r.cachedSteps} of ${r.steps} steps cached`;
}

/** `skipdit generate --prompt ...`: a LatteT2V model from prompts to a video (generateVideo). */
async function generateVideoCommand(opts: GenerateArgs): Promise<void> {
  for (const [flag, given] of [['--class', opts.class], ['--n', opts.n], ['--sampler', opts.sampler], ['--nrow', opts.nrow], ['--key', opts.key], ['--preset', opts.preset], ['--config', opts.config]] as const) {
    if (given !== undefined) throw new InvalidArgumentError(`${flag} is not a text-to-video option (one video per --prompt; the folder's config is read)`);
  }
  if (!opts.model) throw new InvalidArgumentError('--prompt needs --model <LatteT2V checkpoint or folder>');
  const bars = opts.json || !process.stderr.isTTY ? undefined : new cliProgress.MultiBar({ format: '{task} [{bar}] {value}/{total} | {duration_formatted}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  let bar: cliProgress.SingleBar | undefined;
  const result = await interruptibleRun<Awaited<ReturnType<typeof generateVideo>>, VideoProgress>((signal, onProgress) => generateVideo({
    model: opts.model!, base: opts.base, textEncoder: opts.textEncoder, tokenizer: opts.tokenizer, vae: opts.vae, prompts: opts.prompt!, negativePrompt: opts.negativePrompt,
    frames: opts.frames, steps: opts.steps, cfg: opts.cfg, cache: opts.cache as CachePolicyInput | undefined, seed: opts.seed,
    timestepSpacing: opts.timestepSpacing, stepsOffset: opts.stepsOffset, cleanCaption: opts.clean, backend: opts.backend, dtype: opts.dtype,
    fps: opts.fps, out: opts.out, signal, onProgress, optionNames: videoFlags,
  }), progressBars<VideoProgress>(bars, (e) => {
    if (e.phase !== 'sample') return;
    if (e.completed === 0) bar = bars?.create(e.total, 0, { task: 'sampling' });
    else bar?.update(e.completed);
  }));
  if (!result) return;
  const r = result.report;
  const [n, F] = result.video.shape;
  if (opts.json) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(`wrote ${r.out} (${F} frame${F > 1 ? 's' : ''} of ${result.images[0].width}x${result.images[0].height}, ${n} video${n > 1 ? 's' : ''}) in ` +
      textRunTimings(r));
  }
}

/** `skipdit generate --prompt ...` on a Hunyuan-DiT download: a PNG (generateHunyuan). */
async function generateHunyuanCommand(opts: GenerateArgs): Promise<void> {
  for (const [flag, given] of [['--class', opts.class], ['--frames', opts.frames], ['--key', opts.key], ['--preset', opts.preset], ['--config', opts.config], ['--text-encoder', opts.textEncoder], ['--tokenizer', opts.tokenizer]] as const) {
    if (given !== undefined) throw new InvalidArgumentError(`${flag} is not a Hunyuan-DiT option (the t2i/ folder's parts are found by name)`);
  }
  if (opts.size !== undefined && opts.size.length !== 2) throw new InvalidArgumentError(`--size takes a height and a width in pixels, got ${opts.size.join(' ')}`);
  const bars = opts.json || !process.stderr.isTTY ? undefined : new cliProgress.MultiBar({ format: '{task} [{bar}] {value}/{total} | {duration_formatted}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  let bar: cliProgress.SingleBar | undefined;
  type Event = { phase: string; completed?: number; total?: number };
  const result = await interruptibleRun<Awaited<ReturnType<typeof generateHunyuan>>, Event>((signal, onProgress) => generateHunyuan({
    model: opts.model!, vae: opts.vae, bert: opts.bert, bertTokenizer: opts.bertTokenizer, mt5: opts.mt5,
    prompts: opts.prompt!, negativePrompt: opts.negativePrompt, size: opts.size as [number, number] | undefined,
    batch: opts.n, sampler: opts.sampler, steps: opts.steps, cfg: opts.cfg, cache: opts.cache as CachePolicyInput | undefined, seed: opts.seed,
    backend: opts.backend, dtype: opts.dtype, out: opts.out, nrow: opts.nrow, signal, onProgress,
  }), progressBars<Event>(bars, (e) => {
    if (e.phase !== 'sample' || e.completed === undefined) return;
    if (e.completed === 1) bar = bars?.create(e.total ?? 0, 1, { task: 'sampling' });
    else bar?.update(e.completed);
  }));
  if (!result) return;
  const r = result.report;
  if (opts.json) console.log(JSON.stringify(r, null, 2));
  else {
    console.log(`wrote ${r.out} (${result.images[0].width}x${result.images[0].height}, ${result.samples.shape[0]} image${result.samples.shape[0] > 1 ? 's' : ''}) in ` +
      textRunTimings(r));
  }
}

/**
 * --model <recipe> (skipdit pull's names) and hf:// paths in --model, --vae, --base, --text-encoder, --tokenizer,
 * --bert, --bert-tokenizer, --mt5: downloads what they name, or finds it in the cache, and puts the local paths in.
 */
async function resolveDownloads(opts: GenerateArgs): Promise<void> {
  const bars = downloadBars(!opts.json && process.stderr.isTTY);
  const hub: HubOptions = { onProgress: bars.onProgress };
  try {
    if (isRecipeName(opts.model)) {
      const { parts } = await pull(opts.model, hub);
      opts.model = parts.model;
      opts.vae ??= parts.vae;
      opts.base ??= parts.base;
      opts.tokenizer ??= parts.tokenizer;
    }
    const paths: [keyof GenerateArgs, string, boolean][] = [['model', '--model', true], ['vae', '--vae', true], ['base', '--base', false], ['textEncoder', '--text-encoder', true],
      ['tokenizer', '--tokenizer', false], ['bert', '--bert', true], ['bertTokenizer', '--bert-tokenizer', false], ['mt5', '--mt5', true]];
    for (const [key, flag, weights] of paths) {
      const value = opts[key];
      if (!isHfUri(value)) continue;
      // --base is a whole Latte folder: its parts are fetched as text-to-video needs them (use the recipe for all).
      (opts as unknown as Record<string, string>)[key] = await localPath(value, { weights }, { hub }, flag);
    }
  } finally {
    bars.stop();
  }
}

async function generateCommand(opts: GenerateArgs): Promise<void> {
  await resolveDownloads(opts);
  if (opts.prompt !== undefined) return opts.model && (await isHunyuanPath(opts.model)) ? generateHunyuanCommand(opts) : generateVideoCommand(opts);
  for (const [flag, given] of [['--size', opts.size], ['--bert', opts.bert], ['--bert-tokenizer', opts.bertTokenizer], ['--mt5', opts.mt5]] as const) {
    if (given !== undefined) throw new InvalidArgumentError(`${flag} is a Hunyuan-DiT option: give --prompt and a Hunyuan-DiT --model too`);
  }
  for (const [flag, given] of [['--negative-prompt', opts.negativePrompt], ['--text-encoder', opts.textEncoder], ['--tokenizer', opts.tokenizer], ['--timestep-spacing', opts.timestepSpacing], ['--steps-offset', opts.stepsOffset], ['--dtype', opts.dtype]] as const) {
    if (given !== undefined) throw new InvalidArgumentError(`${flag} is a text-to-video option: give --prompt too`);
  }
  // Loading (the model, the VAE), sampling, then decoding, each with its bar, on a terminal only.
  const bars = opts.json || !process.stderr.isTTY ? undefined : new cliProgress.MultiBar({ format: '{task} [{bar}] {value}/{total} | {duration_formatted}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  let bar: cliProgress.SingleBar | undefined;
  let loading: string | undefined;
  const result = await interruptible<ImagesResult>({
    model: opts.model, checkpointKey: opts.key, config: opts.config ?? opts.preset, vae: opts.vae, backend: opts.backend,
    classes: opts.class, n: opts.n, frames: opts.frames, steps: opts.steps, sampler: opts.sampler, cfg: opts.cfg,
    cache: opts.cache as CachePolicyInput | undefined, seed: opts.seed, nrow: opts.nrow, fps: opts.fps, out: opts.out, optionNames: flags,
  }, progressBars(bars, (e) => {
    if (e.phase === 'load') {
      if (!('target' in e)) return;
      // A file's first report may already be past 0 (they come at most every 50 ms).
      if (loading !== e.target) bar = bars?.create(e.total, 0, { task: `loading ${(loading = e.target)}` });
      bar?.update(e.completed);
      return;
    }
    if (e.phase !== 'sample' && e.phase !== 'decode') return;
    if (e.completed === 0) bar = bars?.create(e.total, 0, { task: e.phase === 'sample' ? 'sampling' : 'decoding' });
    else bar?.update(e.completed);
  }));
  if (!result) return;
  const { report: r, images } = result;
  const n = result.samples.shape[0];
  const written = result.format === 'png'
    ? `${r.out} (${images[0].width}x${images[0].height}, ${n} image${n > 1 ? 's' : ''}${r.labels ? ` of class ${[...new Set(r.labels)].join(', ')}` : ''})`
    : `${r.out} (${images.length} frames of ${images[0].width}x${images[0].height}, ${n} video${n > 1 ? 's' : ''})`;
  if (opts.json) console.log(JSON.stringify(r, null, 2));
  else console.log(`wrote ${written} in ${((r.sampleMs + r.decodeMs) / 1000).toFixed(2)} s (sampling ${(r.sampleMs / 1000).toFixed(2)} s${r.vae ? `, decoding ${(r.decodeMs / 1000).toFixed(2)} s` : ''}), ${r.cachedSteps} of ${r.steps_detail.length} steps cached`);
}

program
  .command('generate')
  .description('generate images (PNG grid) or videos (GIF, MP4, PNG frames); default model: the bundled MNIST digits Skip-DiT')
  .option('--model <file>', `weights, .safetensors or .pt (default: the bundled digits model); with --prompt a LatteT2V checkpoint or a Latte-1 style folder; an hf:// path; or a released system, downloaded on first use: ${Object.keys(recipes).join(', ')}`)
  .option('--key <name>', 'state dict of a training checkpoint')
  .addOption(new Option('--preset <name>', 'model config when the file cannot tell it').choices(Object.keys(presets)))
  .addOption(configOption())
  .option('--vae <path>', 'VAE for latent models: a diffusers folder (config.json + weights) or a weights file')
  .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
  .option('--class <label...>', 'class label(s); with --n they repeat to fill the batch', (v: string, p?: number[]) => collect(integer('--class'))(v, p))
  .option('--n <count>', 'number of images / videos (default: one per --class)', integer('--n'))
  .option('--frames <n>', 'Latte: frames per video (must be the model\'s num_frames)', integer('--frames'))
  .option('--steps <n>', 'sampling steps (default: the official script\'s: DiT 250, Latte 50, bundled 50)', integer('--steps'))
  .addOption(new Option('--sampler <name>', 'sampler (default: DiT ddpm, Latte ddim, bundled ddim; dpmsolver++: DPM-Solver++(2M), for 10-25 steps)').choices(['ddim', 'ddpm', 'dpmsolver++']))
  .option('--cfg <scale>', 'classifier-free guidance scale (default: DiT 4, Latte 7, bundled 3)', number('--cfg'))
  .option('--cache <policy>', `Skip-Cache: none, ${Object.keys(cachePresets).join(', ')}, optionally ':N[:k]' (dit:2, hunyuan:2:1), or text-to-video's N2-700-50`)
  .option('--seed <n>', 'seed of all noise', integer('--seed'), 0)
  .option('--nrow <n>', 'images per grid row (default: 4 for DiT as sample.py, a square grid otherwise)', integer('--nrow'))
  .option('--fps <n>', 'video frames per second', integer('--fps'), 8)
  .option('--out <file>', 'output: .png for images (default samples.png); .gif (default samples.gif), .mp4 (needs ffmpeg) or a folder of PNG frames for videos')
  .option('--json', 'print a JSON report')
  .option('--prompt <text...>', 'text-to-video (LatteT2V): one video per prompt')
  .option('--negative-prompt <text>', "text-to-video: the negative prompt (default '', the official one)")
  .option('--text-encoder <folder>', 'text-to-video: the T5 encoder folder (default: <model folder>/text_encoder)')
  .option('--tokenizer <folder>', 'text-to-video: the T5 tokenizer (default: <model folder>/tokenizer)')
  .option('--base <folder>', "text-to-video: a Latte-0 / Latte-1 folder whose text_encoder, tokenizer, vae_temporal_decoder and scheduler fill what --model's folder lacks")
  .addOption(new Option('--dtype <type>', 'text-to-video: precision of the transformer and T5 weights').choices(['float32', 'bfloat16', 'float16']))
  .addOption(new Option('--timestep-spacing <mode>', "text-to-video: DDIM timestep_spacing (default: the folder's scheduler config, else leading)").choices(['leading', 'linspace', 'trailing']))
  .option('--steps-offset <n>', 'text-to-video: DDIM steps_offset', integer('--steps-offset'))
  .option('--no-clean', 'text-to-video: no caption cleaning (the official pipeline cleans)')
  .option('--size <px...>', 'Hunyuan-DiT: image height and width in pixels, multiples of 16 (default 1024 1024)', (v: string, p?: number[]) => collect(integer('--size'))(v, p))
  .option('--bert <folder>', 'Hunyuan-DiT: the BERT encoder (default: t2i/clip_text_encoder)')
  .option('--bert-tokenizer <folder>', 'Hunyuan-DiT: its tokenizer (default: t2i/tokenizer)')
  .option('--mt5 <folder>', 'Hunyuan-DiT: the mT5 encoder and its spiece.model (default: t2i/mt5)')
  .action(generateCommand);

interface PullArgs {
  revision?: string;
  convert?: boolean;
  bf16?: boolean;
  offline?: boolean;
  endpoint?: string;
  cacheDir?: string;
  list?: boolean;
  json?: boolean;
}

/** `skipdit pull --list`: each recipe, what it fetches, and whether the cache holds it whole. */
async function listRecipes(hub: HubOptions, json?: boolean): Promise<void> {
  const rows = [];
  for (const r of Object.values(recipes)) {
    const cached = await pull(r.name, { ...hub, offline: true }).then((p) => p, (err) => (err instanceof HubOfflineError ? undefined : Promise.reject(err)));
    rows.push({ name: r.name, task: r.task, description: r.description, repositories: Object.values(r.sources).map((s) => s.repo), cached: cached !== undefined, bytes: cached?.bytes ?? null, parts: cached?.parts ?? null });
  }
  if (json) return console.log(JSON.stringify(rows, null, 2));
  for (const r of rows) console.log(`${r.name.padEnd(18)} ${r.task.padEnd(15)} ${r.cached ? `in the cache (${formatBytes(r.bytes!)})` : 'not downloaded'}\n  ${r.description}\n  from ${r.repositories.join(', ')}`);
}

async function pullCommand(names: string[], opts: PullArgs): Promise<void> {
  const hub: HubOptions = { endpoint: opts.endpoint, cacheDir: opts.cacheDir, offline: opts.offline };
  if (opts.list) return listRecipes(hub, opts.json);
  if (names.length === 0) throw new InvalidArgumentError(`Expected what to pull: ${Object.keys(recipes).join(', ')}, or an hf://<org>/<name>[/<path>] (see --list)`);
  if (opts.bf16 && !opts.convert) throw new InvalidArgumentError('--bf16 goes with --convert (it sets the dtype of the converted matrices)');
  for (const name of names) {
    if (!isRecipeName(name) && !isHfUri(name)) throw new InvalidArgumentError(`Expected a recipe (${Object.keys(recipes).join(', ')}) or an hf:// path but received '${name}'`);
  }
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  const bars = downloadBars(!opts.json && process.stderr.isTTY);
  const started = performance.now();
  const results: (PullResult | { uri: string; local: string; snapshots: Record<string, Snapshot> })[] = [];
  try {
    for (const name of names) {
      const o = { ...hub, signal: controller.signal, onProgress: bars.onProgress };
      if (isRecipeName(name)) {
        results.push(await pull(name, { ...o, revision: opts.revision, convert: opts.convert ? (opts.bf16 ? 'bfloat16' : true) : undefined }));
      } else {
        const r = await resolveHfUri(name, { weights: true }, { ...o, revision: opts.revision });
        results.push({ uri: name, local: r.local, snapshots: { [r.snapshot.repo]: r.snapshot } });
      }
    }
  } catch (err) {
    bars.stop();
    if (!(err instanceof AbortError && controller.signal.aborted)) throw err;
    console.error('skipdit: interrupted; the partial download is kept and the next pull resumes it');
    process.exitCode = 130;
    return;
  } finally {
    bars.stop();
    process.off('SIGINT', interrupt);
  }
  const seconds = (performance.now() - started) / 1000;
  const files = results.flatMap((r) => Object.values(r.snapshots).flatMap((s) => s.files));
  const total = files.reduce((a, f) => a + f.size, 0);
  const received = files.reduce((a, f) => a + f.received, 0);
  if (opts.json) return console.log(JSON.stringify({ results, bytes: total, received, seconds }, null, 2));
  for (const r of results) {
    console.log('recipe' in r ? `${r.recipe}:` : `${r.uri}:`);
    for (const line of describeSnapshots(Object.values(r.snapshots))) console.log(`  ${line}`);
    if ('recipe' in r) {
      for (const c of r.converted) console.log(`  converted: ${c}`);
      for (const [k, v] of Object.entries(r.parts)) console.log(`  ${k}: ${v}`);
    } else console.log(`  local: ${r.local}`);
  }
  console.log(`${files.length} files, ${formatBytes(total)} on disk; ${formatBytes(received)} downloaded in ${seconds.toFixed(1)} s` +
    (received ? ` (${formatBytes(received / seconds)}/s)` : ''));
  const first = results.find((r) => 'recipe' in r) as PullResult | undefined;
  if (first) console.log(`next: skipdit generate --model ${first.recipe}${recipes[first.recipe].task.startsWith('text') ? " --prompt '...'" : ''}`);
}

program
  .command('pull [names...]')
  .description(`download a released system into the Hugging Face cache (shared with Python's huggingface_hub): ${Object.keys(recipes).join(', ')}; or hf://<org>/<name>[@<revision>][/<path>]. Resumes interrupted downloads, verifies checksums; HF_TOKEN, HF_ENDPOINT, HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE apply`)
  .option('--revision <rev>', 'branch, tag or commit (a recipe of one repository, or hf:// paths)')
  .option('--convert', 'also write each .pt as safetensors next to it (later loads are memory-mapped)')
  .option('--bf16', 'with --convert: store the linear weights as bf16 (about half the file; a bfloat16 load gives the same bits)')
  .option('--offline', 'use the cache only (as HF_HUB_OFFLINE=1)')
  .option('--endpoint <url>', 'the Hub (default HF_ENDPOINT, else https://huggingface.co)')
  .option('--cache-dir <dir>', 'the cache (default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)')
  .option('--list', 'list the recipes and whether each is in the cache')
  .option('--json', 'print a JSON report')
  .action(pullCommand);

program
  .command('inspect <file>')
  .description('describe a weights file (safetensors or torch .pt): tensors, dtypes, picked state dict, inferred config')
  .option('--key <name>', 'state dict of a training checkpoint (ema, model, root, ...)')
  .addOption(new Option('--preset <name>', 'config to check the file against').choices(Object.keys(presets)))
  .addOption(configOption())
  .option('--json', 'machine-readable output')
  .action(async (file: string, opts: { key?: string; preset?: PresetName; config?: Partial<ModelConfig>; json?: boolean }) => {
    const info = await inspectCheckpoint(file, { key: opts.key, config: opts.config ?? opts.preset });
    if (opts.json) {
      console.log(JSON.stringify(info, null, 2));
      return;
    }
    console.log(`${file}: ${info.format}${info.picked ? `, state dict '${info.picked}' (of ${JSON.stringify(info.candidates)}), archive folder '${info.rootFolder}'` : ''}`);
    console.log(`${Object.keys(info.tensors).length} tensors, ${info.parameters.toLocaleString('en-US')} parameters, ${(info.bytes / 2 ** 20).toFixed(1)} MiB`);
    for (const [name, t] of Object.entries(info.tensors)) console.log(`  ${name.padEnd(48)} ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]`);
    if (info.extras && Object.keys(info.extras).length) console.log(`other entries (data only, nothing executed): ${JSON.stringify(info.extras).slice(0, 2000)}`);
    console.log(`inferred from shapes: ${JSON.stringify(info.inferred.config)}`);
    for (const a of info.inferred.assumptions) console.log(`  assumed: ${a}`);
    for (const m of info.inferred.missing) console.log(`  unknown: ${m}`);
    console.log(info.config ? `config: ${JSON.stringify(info.config)}` : `no config: ${info.configError}`);
  });

program
  .command('convert <input> <output>')
  .description('write the state dict of a checkpoint (.pt or .safetensors) as safetensors, config in the metadata')
  .option('--key <name>', 'state dict of a training checkpoint (default: ema, then model)')
  .addOption(new Option('--preset <name>', 'config when the file cannot tell it').choices(Object.keys(presets)))
  .addOption(configOption())
  .action(async (input: string, output: string, opts: { key?: string; preset?: PresetName; config?: Partial<ModelConfig> }) => {
    const started = performance.now();
    const r = await convertCheckpoint(input, output, { key: opts.key, config: opts.config ?? opts.preset });
    console.log(`wrote ${output}: ${(r.bytes / 2 ** 20).toFixed(1)} MiB${r.picked ? ` from state dict '${r.picked}'` : ''} in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    console.log(`config: ${JSON.stringify(r.config)}`);
  });

program
  .command('backends')
  .description("list the compute backends, why any is unavailable, and what --backend auto picks (runs CUDA's self-test)")
  .action(async () => {
    const auto = await autoBackend();
    for (const b of backends()) console.log(`${b.name}: ${b.available ? 'available' : `unavailable (${b.reason})`} ${JSON.stringify(b.details)}`);
    const selfTest = backends()[1].selfTest;
    if (selfTest) console.log(`cuda self-test: ${selfTest.passed ? 'passed' : 'FAILED'} in ${selfTest.ms.toFixed(0)} ms ${JSON.stringify(selfTest.checks)}`);
    console.log(`auto: ${auto.backend} (${auto.reason})`);
  });

/** The settings `skipdit bench quality` runs by default: the bundled model's (DDIM 50/25/10, DPM-Solver++ 20/10; none, N=2, N=3, adaptive). */
function defaultQualitySettings(k: number, samplers = ['ddim:50', 'ddim:25', 'ddim:10', 'dpmsolver++:20', 'dpmsolver++:10']): string[] {
  const caches = ['', `:dit:2:${k}`, `:dit:3:${k}`, `:dit:auto:0.03:4:${k}`, `:dit:auto:0.06:4:${k}`, `:dit:auto:0.1:4:${k}`];
  return samplers.flatMap((sampler) => caches.map((cache) => sampler + cache));
}

interface QualityArgs {
  model?: string;
  random?: BenchSize;
  vae?: string;
  settings?: string;
  reference: string;
  n: number;
  cacheDir?: string;
  cfg: number;
  seed: number;
  repeats: number;
  plot?: string;
  json?: boolean;
}

/** `skipdit bench quality`: lib/quality.ts's harness, its table, JSON and plot. */
async function qualityCommand(opts: QualityArgs): Promise<void> {
  if (opts.model && opts.random) throw new InvalidArgumentError('--model and --random are exclusive');
  const tmp = opts.random && !opts.cacheDir ? mkdtempSync(path.join(os.tmpdir(), 'skipdit-quality-')) : undefined;
  if (opts.plot) checkOutputPath(opts.plot, 'file', '--plot'); // before the run, not after it
  let model: Model | undefined, vae: Vae | undefined;
  try {
    const file = opts.random ? randomCheckpoint(benchConfig(opts.random), opts.cacheDir ?? tmp!).file : opts.model ?? bundledModel.path();
    model = await loadModel(file);
    vae = opts.vae ? await loadVae(opts.vae) : undefined;
    const c = model.config;
    // k = 1 unit kept at each end (the digits model has 6 blocks: the dit preset's k = 4 does not fit)
    const settings = (opts.settings?.split(',') ?? defaultQualitySettings(1, opts.random ? ['ddim:20', 'dpmsolver++:10'] : undefined)).map(parseSetting);
    const digits = !opts.model && !opts.random ? loadDigits() : undefined;
    // n samples, classes 0-9 in turn (conditional models)
    const labels = c.num_classes > 0 ? Array.from({ length: opts.n }, (_, i) => i % Math.min(c.num_classes, 10)) : undefined;
    if (opts.random && !opts.json) console.error('random weights: the timings are real, the fidelity columns are not a quality measure (cache decisions on random weights mean nothing)');
    const report = await runQualityBench({
      model, settings, reference: parseSetting(opts.reference), labels, batch: labels ? undefined : opts.n, seed: opts.seed, cfgScale: opts.cfg,
      vae, classify: digits ? digitsClassifier(digits) : undefined, repeats: opts.repeats,
      onRow: (r) => { if (!opts.json) console.error(`  ${r.setting}: ${r.seconds.toFixed(2)} s`); },
    });
    if (opts.plot) writeOutput(opts.plot, qualityPlotPng(report));
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`${report.samples} samples per run, reference ${report.reference}, model ${opts.random ? `random ${opts.random}` : file}${digits ? '; accuracy: the k-NN digits classifier' : ''}`);
      console.log(formatQualityTable(report));
      if (opts.plot) console.log(`plot: ${opts.plot}`);
    }
  } finally {
    model?.dispose();
    vae?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

interface SmoothnessArgs {
  compare?: string;
  trajectory: string;
  at?: string;
  radius: number;
  grid: number;
  n: number;
  seed: number;
  plot?: string;
  json?: boolean;
}

/** `skipdit bench smoothness`: lib/smoothness.ts's probe over one or more DiT checkpoints (default: the bundled model). */
async function smoothnessCommand(opts: SmoothnessArgs): Promise<void> {
  const files = opts.compare ? opts.compare.split(',').map((f) => f.trim()).filter(Boolean) : [bundledModel.path()];
  const trajectory = parseSetting(opts.trajectory);
  if (trajectory.cache !== 'none') throw InvalidArgumentError.expected('--trajectory', "'<sampler>:<steps>' (uncached)", opts.trajectory);
  const at = opts.at?.split(',').map((v) => Number(v.trim()));
  if (opts.plot) checkOutputPath(opts.plot, 'file', '--plot');
  const models = [];
  try {
    for (const file of files) models.push({ name: path.basename(file).replace(/\.safetensors$/, ''), model: await loadModel(file) });
    const c = models[0].model.config;
    const labels = c.num_classes > 0 ? Array.from({ length: opts.n }, (_, i) => i % Math.min(c.num_classes, 10)) : undefined;
    const report = await runSmoothnessProbe({
      models, sampler: trajectory.sampler, steps: trajectory.steps, at, radius: opts.radius, grid: opts.grid, labels, batch: opts.n, seed: opts.seed,
    });
    if (opts.plot) writeOutput(opts.plot, smoothnessPlotPng(report));
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(`${report.samples} samples, trajectory ${report.sampler} ${report.steps}, alpha and beta in [-${report.radius}, ${report.radius}] (${report.alphas.length}x${report.alphas.length}); cosine per token over the hidden size, averaged`);
      console.log(formatSmoothnessTable(report));
      if (opts.plot) console.log(`plot: ${opts.plot}`);
    }
  } finally {
    for (const m of models) m.model.dispose();
  }
}

program
  .command('bench [mode]')
  .description('measure this machine: FMA peak, full and cached steps, runs per cache policy, memory, per-op times; `bench quality`: speed against fidelity per (sampler, steps, cache) setting; `bench smoothness`: how the deep features respond to input perturbations (the paper\'s feature-smoothness probe)')
  .option('--model <file>', 'a checkpoint to measure (default: random weights of --size)')
  .addOption(new Option('--size <name>', 'official size of the random weights').choices(Object.keys(benchSizes)).default('S'))
  .addOption(new Option('--family <name>', 'random weights: DiT (1000 classes) or Latte (16 frames, 101 classes)').choices(['dit', 'latte']).default('dit'))
  .addOption(new Option('--dtype <name>', 'precision of the linear weights').choices(['float32', 'bfloat16']).default('float32'))
  .option('--batch <n>', 'batch of the step timings (2 = one image with CFG)', integer('--batch'), 2)
  .option('--repeats <n>', 'timed rounds per step variant (medians)', integer('--repeats'), 5)
  .option('--steps <n>', 'DDIM steps of the whole runs (0: skip them)', integer('--steps'), 20)
  .option('--policies <list>', 'comma-separated cache policies of the runs (default: none, <preset>:2, <preset>:3)')
  .option('--profile-forwards <n>', 'full forwards in the per-op profile (0: skip it)', integer('--profile-forwards'), 3)
  .option('--peak-seconds <s>', 'duration of the FMA peak measurement', number('--peak-seconds'), 0.5)
  .option('--cache-dir <dir>', 'keep random checkpoints here between runs (default: a temporary folder, removed)')
  .option('--json', 'print the report as JSON')
  .option('--settings <list>', "quality: comma-separated <sampler>:<steps>[:<cache>] (e.g. 'dpmsolver++:10:dit:auto:0.06:4:1'; default: DDIM 50/25/10 and DPM-Solver++ 20/10 with none, N=2, N=3 and adaptive 0.03/0.06/0.1)")
  .option('--reference <setting>', 'quality: the uncached reference run', 'ddim:250')
  .addOption(new Option('--random <size>', 'quality: random weights of an official size at 256px, for speed only').choices(Object.keys(benchSizes)))
  .option('--vae <path>', 'quality: decode latents for PSNR / SSIM')
  .option('--n <samples>', 'quality: samples per run (classes 0-9 in turn for conditional models)', integer('--n'), 80)
  .option('--cfg <scale>', 'quality: guidance scale', number('--cfg'), 3)
  .option('--seed <n>', 'quality: seed', integer('--seed'), 0)
  .option('--plot <file.png>', 'quality: write the speedup-against-PSNR plot')
  .option('--runs <n>', 'quality: timed runs per setting (the median is reported)', integer('--runs'), 1)
  .option('--compare <files>', 'smoothness: comma-separated DiT checkpoints, e.g. a skip and a non-skip model (default: the bundled model)')
  .option('--trajectory <sampler:steps>', 'smoothness: the sampling run whose states are probed', 'ddpm:250')
  .option('--at <steps>', 'smoothness: comma-separated 1-based steps to probe (default: 10 and the last)')
  .option('--radius <r>', 'smoothness: largest |alpha| and |beta| (the disturbances are scaled to the norm of the input)', number('--radius'), 0.2)
  .option('--grid <n>', 'smoothness: grid points per axis (odd)', integer('--grid'), 9)
  .action(async (mode: string | undefined, opts: {
    model?: string; size: BenchSize; family: BenchFamily; dtype: ModelDType; batch: number; repeats: number; steps: number;
    policies?: string; profileForwards: number; peakSeconds: number; cacheDir?: string; json?: boolean;
    settings?: string; reference: string; random?: BenchSize; vae?: string; n: number; cfg: number; seed: number; plot?: string; runs: number;
    compare?: string; trajectory: string; at?: string; radius: number; grid: number;
  }) => {
    if (mode === 'smoothness') {
      return smoothnessCommand({ compare: opts.compare, trajectory: opts.trajectory, at: opts.at, radius: opts.radius, grid: opts.grid, n: opts.n, seed: opts.seed, plot: opts.plot, json: opts.json });
    }
    if (mode === 'quality') {
      return qualityCommand({ model: opts.model, random: opts.random, vae: opts.vae, settings: opts.settings, reference: opts.reference, n: opts.n, cacheDir: opts.cacheDir, cfg: opts.cfg, seed: opts.seed, repeats: opts.runs, plot: opts.plot, json: opts.json });
    }
    if (mode !== undefined) throw new InvalidArgumentError(`Expected no mode, 'quality' or 'smoothness' for skipdit bench but received '${mode}'`);
    const report = await runBench({
      model: opts.model, size: opts.size, family: opts.family, dtype: opts.dtype, batch: opts.batch, repeats: opts.repeats,
      steps: opts.steps, policies: opts.policies?.split(',').map((p) => p.trim()), profileForwards: opts.profileForwards,
      peakSeconds: opts.peakSeconds, cacheDir: opts.cacheDir,
    });
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatBenchReport(report));
  });

program
  .command('encode <prompt...>')
  .description('text encoder states of prompts (T5 v1.1 / mT5 or BERT folder + its tokenizer) into a safetensors file: states, mask, ids')
  .requiredOption('--encoder <dir>', 'text encoder folder: config.json + model.safetensors')
  .requiredOption('--tokenizer <path>', 'tokenizer folder or file (spiece.model, vocab.txt, tokenizer.json)')
  .option('--max-length <n>', 'tokens per prompt, padded and truncated (default: T5 120 as Latte, BERT 77 as Hunyuan-DiT)', integer('--max-length'))
  .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
  .addOption(new Option('--dtype <name>', 'precision of the linear weights').choices(['float32', 'bfloat16', 'float16']).default('float32'))
  .option('--out <file>', 'output .safetensors file', 'states.safetensors')
  .option('--json', 'print a JSON report')
  .action(async (prompts: string[], opts: Omit<EncodeArgs, 'names' | 'signal'> & { json?: boolean }) => {
    const controller = new AbortController();
    const interrupt = () => controller.abort();
    process.once('SIGINT', interrupt);
    try {
      const r = await encodeToFile(prompts, { ...opts, signal: controller.signal, names: { encoder: '--encoder', maxLength: '--max-length', out: '--out' } });
      if (opts.json) console.log(JSON.stringify(r, null, 2));
      else console.log(`wrote ${r.out}: states [${r.shape.join(', ')}] (${r.family}, ${r.backend}, ${r.dtype}), tokens per prompt ${r.tokens.join(', ')}, in ${(r.ms / 1000).toFixed(2)} s`);
    } catch (err) {
      if (!(err instanceof AbortError && controller.signal.aborted)) throw err;
      console.error('skipdit: interrupted; nothing written');
      process.exitCode = 130;
    } finally {
      process.off('SIGINT', interrupt);
    }
  });

registerQueueCommands(program, integer, number);

program.parseAsync().catch((err: unknown) => {
  if (err instanceof SkipditError) console.error(`skipdit: ${err.name}: ${err.message}`);
  else console.error(err);
  process.exit(1);
});
