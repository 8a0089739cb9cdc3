#!/usr/bin/env node
// The skipdit command line. `skipdit sample` runs the official sampling loop (optionally with Skip-Cache)
// on a checkpoint and writes the latents; `skipdit backends` says what can run here; `skipdit bench` measures
// this machine (lib/bench.ts).
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import path from 'node:path';
import { convertCheckpoint, inspectCheckpoint } from './checkpoint.js';
import { presets, type ModelConfig, type ModelConfigInput, type PresetName } from './config.js';
import { cachePresets, type CachePolicyInput } from './cache.js';
import { FLOAT32_EXPECTED, InvalidArgumentError, SkipditError, isFloat32 } from './errors.js';
import { bundledModel } from './bundled.js';
import { imageGrid, writePng } from './image.js';
import { backends, loadModel, type LoadModelOptions, type ModelDType } from './model.js';
import { autoBackend } from './backends.js';
import { benchSizes, formatBenchReport, runBench, type BenchFamily, type BenchSize } from './bench.js';
import { loadVae } from './vae.js';
import { encodeGif, ffmpegAvailable, writeMp4, writePngSequence } from './video.js';
import { Pipeline, type StepInfo } from './pipeline.js';
import { encodeSafetensors } from './safetensors.js';
import { checkOutputPath, writeOutput } from './output.js';

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
/** --cfg and --eta reach native code as float32: beyond its range they would silently give NaN samples. */
const checkFloat32 = (name: string, value: number | undefined) => {
  if (value !== undefined && !isFloat32(value)) throw InvalidArgumentError.expected(name, FLOAT32_EXPECTED, value);
};

interface SampleOptions {
  model: string;
  key?: string;
  config?: ModelConfigInput;
  preset?: PresetName;
  backend: 'auto' | 'cpu' | 'cuda';
  class?: number[];
  batch?: number;
  steps: number;
  sampler: 'ddim' | 'ddpm';
  eta?: number;
  cfg?: number;
  cfgChannels: 'official' | 'all';
  cache?: string;
  seed: number;
  out: string;
  json?: boolean;
}

async function sample(opts: SampleOptions): Promise<void> {
  // Everything the options alone can tell is checked before the model loads and the sampling runs.
  checkFloat32('--cfg', opts.cfg);
  checkFloat32('--eta', opts.eta);
  if (opts.eta !== undefined && opts.sampler !== 'ddim') throw new InvalidArgumentError(`Expected --eta only with --sampler ddim (a DDIM parameter) but received --eta ${opts.eta} with --sampler ${opts.sampler}`);
  checkOutputPath(opts.out, 'file', '--out');
  const model = await loadCliModel(opts.model, { config: opts.config ?? opts.preset, backend: opts.backend, checkpointKey: opts.key });
  try {
    const cache = opts.cache === undefined || opts.cache === 'none' ? false : (opts.cache as CachePolicyInput);
    const pipe = new Pipeline(model, { sampler: opts.sampler, steps: opts.steps, eta: opts.eta, cfgScale: opts.cfg, cfgChannels: opts.cfgChannels, cache });
    const conditional = model.config.num_classes > 0;
    if (conditional && !opts.class) throw new InvalidArgumentError(`Expected --class <label...> for a class-conditional model (classes 0..${model.config.num_classes - 1})`);
    if (!conditional && opts.class) throw new InvalidArgumentError('Expected no --class for an unconditional model (use --batch)');
    if (conditional && opts.batch !== undefined) throw new InvalidArgumentError(`Expected no --batch for a class-conditional model (one sample per --class label) but received --batch ${opts.batch}`);
    pipe.init({ labels: conditional ? opts.class : undefined, batch: conditional ? undefined : opts.batch ?? 1, seed: opts.seed });

    const bar = opts.json ? undefined : new cliProgress.SingleBar(
      { format: 'sampling [{bar}] {value}/{total} steps | t={timestep} {kind} | {duration_formatted}', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar?.start(pipe.sampler.steps, 0, { timestep: pipe.timesteps[0], kind: '' });
    const started = performance.now();
    await pipe.run({ onStep: (info: StepInfo) => bar?.update(info.index + 1, { timestep: info.timestep, kind: info.cached ? 'cached' : 'full  ' }) });
    const totalMs = performance.now() - started;
    bar?.stop();

    const samples = pipe.samples;
    const metadata = {
      model: path.basename(opts.model),
      config: JSON.stringify(model.config),
      sampler: opts.sampler,
      steps: String(pipe.sampler.steps),
      seed: String(opts.seed),
      labels: JSON.stringify(opts.class ?? []),
      cfg_scale: String(pipe.cfgScale ?? 1),
      cache: JSON.stringify(pipe.cachePolicy ?? false),
    };
    writeOutput(opts.out, encodeSafetensors({ samples }, metadata));

    const stats = pipe.cacheStats;
    const full = pipe.history.filter((s) => !s.cached);
    const fullMs = full.reduce((a, s) => a + s.ms, 0) / Math.max(1, full.length);
    const report = {
      model: opts.model, backend: model.backend, out: opts.out, shape: samples.shape,
      sampler: opts.sampler, steps: pipe.sampler.steps, cfgScale: pipe.cfgScale ?? null, seed: opts.seed,
      cache: pipe.cachePolicy ?? null,
      totalMs,
      stepsDetail: pipe.history.map((s) => ({ index: s.index, timestep: s.timestep, cached: s.cached, blocksExecuted: s.blocksExecuted, ms: s.ms, gflop: s.flops / 1e9 })),
      fullSteps: stats.fullSteps, cachedSteps: stats.cachedSteps, blocksExecuted: stats.blocksExecuted, blocksTotal: stats.blocksTotal,
      gflopExecuted: stats.flopsExecuted / 1e9, gflopUncached: stats.flopsUncached / 1e9,
      predictedSpeedup: stats.predictedSpeedup,
      // what an uncached run would have taken at this run's mean full-step time, over the actual time
      observedSpeedupEstimate: (fullMs * pipe.sampler.steps) / totalMs,
    };
    if (opts.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      console.log(`wrote ${opts.out}: samples [${samples.shape.join(', ')}] in ${(totalMs / 1000).toFixed(2)} s`);
      console.log(`steps: ${stats.fullSteps} full, ${stats.cachedSteps} cached; blocks ${stats.blocksExecuted}/${stats.blocksTotal}; ` +
        `${report.gflopExecuted.toFixed(2)} of ${report.gflopUncached.toFixed(2)} GFLOP; speedup predicted ${stats.predictedSpeedup.toFixed(2)}x, ` +
        `observed ~${report.observedSpeedupEstimate.toFixed(2)}x`);
    }
  } finally {
    model.dispose();
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
  .addOption(new Option('--sampler <name>', 'sampler').choices(['ddim', 'ddpm']).default('ddim'))
  .option('--eta <x>', 'DDIM eta', number('--eta'))
  .option('--cfg <scale>', 'classifier-free guidance scale (> 1 enables it)', number('--cfg'))
  .addOption(new Option('--cfg-channels <mode>', 'guided channels').choices(['official', 'all']).default('official'))
  .option('--cache <policy>', `Skip-Cache: none, ${Object.keys(cachePresets).join(', ')}, optionally ':N' (e.g. dit:2)`)
  .option('--seed <n>', 'seed of all noise', integer('--seed'), 0)
  .option('--out <file>', 'output safetensors file', 'latents.safetensors')
  .option('--json', 'print a JSON report (per-step timings, cached steps, blocks, FLOPs)')
  .action(sample);

interface GenerateOptions {
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
  sampler?: 'ddim' | 'ddpm';
  cfg?: number;
  cache?: string;
  seed: number;
  nrow?: number;
  fps: number;
  out?: string;
  json?: boolean;
}

/** The official sample scripts' defaults: DiT sample.py DDPM 250 / CFG 4; Latte ucf101 DDIM 50 / CFG 7. */
function officialDefaults(c: ModelConfig, bundled: boolean) {
  if (bundled) return bundledModel.defaults;
  if (c.family === 'latte') return c.num_classes > 0 ? { sampler: 'ddim' as const, steps: 50, cfgScale: 7 } : { sampler: 'ddpm' as const, steps: 250, cfgScale: 1 };
  return { sampler: 'ddpm' as const, steps: 250, cfgScale: 4 };
}

async function generate(opts: GenerateOptions): Promise<void> {
  checkFloat32('--cfg', opts.cfg);
  if (opts.nrow !== undefined && opts.nrow < 1) throw InvalidArgumentError.expected('--nrow', 'a positive integer', opts.nrow);
  if (!(opts.fps > 0 && opts.fps <= 100)) throw InvalidArgumentError.expected('--fps', 'a number in (0, 100]', opts.fps);
  const bundled = opts.model === undefined;
  const file = opts.model ?? bundledModel.path();
  const model = await loadCliModel(file, { config: opts.config ?? opts.preset, backend: opts.backend, checkpointKey: opts.key });
  const vae = opts.vae ? await loadVae(opts.vae) : undefined;
  try {
    const c = model.config;
    const pixelModel = c.family === 'dit' && (c.in_channels === 1 || c.in_channels === 3);
    if (!vae && !pixelModel) {
      throw new InvalidArgumentError(`Expected --vae <sd-vae-ft-ema folder or file> for '${file}': it makes ${c.family === 'latte' ? 'video ' : ''}latents with ${c.in_channels} channels`);
    }
    if (vae && vae.config.latent_channels !== c.in_channels) {
      throw new InvalidArgumentError(`Expected a VAE with ${c.in_channels} latent channels for this model but '${opts.vae}' has ${vae.config.latent_channels}`);
    }
    if (opts.frames !== undefined && (c.family !== 'latte' || opts.frames !== c.num_frames)) {
      throw new InvalidArgumentError(`Expected --frames ${c.family === 'latte' ? c.num_frames : '(only for Latte models)'} (the model's num_frames) but received ${opts.frames}`);
    }
    const conditional = c.num_classes > 0;
    if (conditional && !opts.class) throw new InvalidArgumentError(`Expected --class <label...> for a class-conditional model (classes 0..${c.num_classes - 1})`);
    if (!conditional && opts.class) throw new InvalidArgumentError('Expected no --class for an unconditional model (use --n)');
    if (!conditional && opts.cfg !== undefined) throw new InvalidArgumentError(`Expected no --cfg for an unconditional model (guidance needs class labels) but received --cfg ${opts.cfg}`);
    // --n repeats the classes to fill the batch; fewer samples than classes would drop some.
    if (opts.class && opts.n !== undefined && opts.n < opts.class.length) {
      throw InvalidArgumentError.expected('--n', `at least ${opts.class.length} (one sample per --class label; a larger --n repeats them)`, opts.n);
    }
    const n = opts.n ?? opts.class?.length ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError(`Expected --n in [1, 1024] but received ${opts.n}`);
    const labels = conditional ? Array.from({ length: n }, (_, i) => opts.class![i % opts.class!.length]) : undefined;

    // The output is checked before sampling. Videos default to a GIF: a folder named samples.png would mislead.
    const video = c.family === 'latte';
    const out = opts.out ?? (video ? 'samples.gif' : 'samples.png');
    const ext = path.extname(out).toLowerCase();
    if (video && ext === '.png') throw InvalidArgumentError.expected('--out', 'a .gif, an .mp4 or a folder name (PNG frames) for a video', out);
    if (video && ext === '.mp4' && !ffmpegAvailable()) throw new InvalidArgumentError('Expected an ffmpeg binary on PATH to write MP4 (write a .gif or a PNG frame folder instead)');
    checkOutputPath(out, video && ext !== '.gif' && ext !== '.mp4' ? 'folder' : 'file', '--out');

    const defaults = officialDefaults(c, bundled);
    // A model without a null class (class_dropout_prob 0) cannot guide: its default is no guidance.
    const cfgScale = conditional ? opts.cfg ?? (c.class_dropout ? defaults.cfgScale : 1) : undefined;
    const cache = opts.cache === undefined || opts.cache === 'none' ? false : (opts.cache as CachePolicyInput);
    const pipe = new Pipeline(model, { sampler: opts.sampler ?? defaults.sampler, steps: opts.steps ?? defaults.steps, cfgScale, cache });
    pipe.init({ labels, batch: conditional ? undefined : n, seed: opts.seed });

    const bars = opts.json || !process.stderr.isTTY ? undefined : new cliProgress.MultiBar({ format: '{task} [{bar}] {value}/{total} | {duration_formatted}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
    const stepBar = bars?.create(pipe.sampler.steps, 0, { task: 'sampling' });
    const started = performance.now();
    const samples = await pipe.run({ onStep: (info) => stepBar?.update(info.index + 1) });
    const sampleMs = performance.now() - started;

    // Pixels: the model's own output for pixel models, else the VAE decode of every image / video frame.
    const F = c.family === 'latte' ? c.num_frames : 1;
    let pixels = samples;
    const decodeStarted = performance.now();
    if (vae) {
      const frames = { data: samples.data, shape: [n * F, c.in_channels, c.input_size, c.input_size] };
      const decodeBar = bars?.create(n * F, 0, { task: 'decoding' });
      const parts: Float32Array[] = [];
      let shape: number[] = [];
      for (let i = 0; i < n * F; i++) {
        const one = await vae.decode({ data: frames.data.subarray(i * frames.data.length / (n * F), (i + 1) * frames.data.length / (n * F)), shape: [1, ...frames.shape.slice(1)] });
        parts.push(one.data);
        shape = one.shape;
        decodeBar?.update(i + 1);
      }
      const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      parts.forEach((p, i) => data.set(p, i * p.length));
      pixels = { data, shape: [n * F, ...shape.slice(1)] };
    }
    const decodeMs = performance.now() - decodeStarted;
    bars?.stop();

    const [, C, H, W] = pixels.shape.length === 5 ? [0, pixels.shape[2], pixels.shape[3], pixels.shape[4]] : pixels.shape;
    const nrow = opts.nrow ?? (c.family === 'latte' ? Math.ceil(Math.sqrt(n)) : bundled ? Math.ceil(Math.sqrt(n)) : 4);
    let written: string;
    if (c.family === 'latte') {
      // One frame of the output = frame f of every video, tiled like an image grid.
      const grids = Array.from({ length: F }, (_, f) => {
        const batch = { data: new Float32Array(n * C * H * W), shape: [n, C, H, W] };
        for (let v = 0; v < n; v++) batch.data.set(pixels.data.subarray((v * F + f) * C * H * W, (v * F + f + 1) * C * H * W), v * C * H * W);
        return imageGrid(batch, { nrow });
      });
      if (ext === '.gif') writeOutput(out, encodeGif(grids, { fps: opts.fps }));
      else if (ext === '.mp4') writeMp4(out, grids, { fps: opts.fps });
      else writePngSequence(out, grids);
      written = `${out} (${F} frames of ${grids[0].width}x${grids[0].height}, ${n} video${n > 1 ? 's' : ''})`;
    } else {
      const grid = imageGrid({ data: pixels.data, shape: [n, C, H, W] }, { nrow });
      writePng(out, grid);
      written = `${out} (${grid.width}x${grid.height}, ${n} image${n > 1 ? 's' : ''}${labels ? ` of class ${[...new Set(labels)].join(', ')}` : ''})`;
    }
    const stats = pipe.cacheStats;
    const report = {
      model: file, vae: opts.vae ?? null, out, labels: labels ?? null, frames: F, sampler: opts.sampler ?? defaults.sampler,
      steps: pipe.sampler.steps, cfgScale: pipe.cfgScale ?? null, seed: opts.seed, cache: pipe.cachePolicy ?? null,
      sampleMs, decodeMs, cachedSteps: stats.cachedSteps, fullSteps: stats.fullSteps, predictedSpeedup: stats.predictedSpeedup,
      steps_detail: pipe.history.map((s) => ({ index: s.index, timestep: s.timestep, cached: s.cached, ms: s.ms })),
    };
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else console.log(`wrote ${written} in ${((sampleMs + decodeMs) / 1000).toFixed(2)} s (sampling ${(sampleMs / 1000).toFixed(2)} s${vae ? `, decoding ${(decodeMs / 1000).toFixed(2)} s` : ''}), ${stats.cachedSteps} of ${stats.calls} steps cached`);
  } finally {
    model.dispose();
    vae?.dispose();
  }
}

program
  .command('generate')
  .description('generate images (PNG grid) or videos (GIF, MP4, PNG frames); default model: the bundled MNIST digits Skip-DiT')
  .option('--model <file>', 'weights, .safetensors or .pt (default: the bundled digits model)')
  .option('--key <name>', 'state dict of a training checkpoint')
  .addOption(new Option('--preset <name>', 'model config when the file cannot tell it').choices(Object.keys(presets)))
  .addOption(configOption())
  .option('--vae <path>', 'VAE for latent models: a diffusers folder (config.json + weights) or a weights file')
  .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
  .option('--class <label...>', 'class label(s); with --n they repeat to fill the batch', (v: string, p?: number[]) => collect(integer('--class'))(v, p))
  .option('--n <count>', 'number of images / videos (default: one per --class)', integer('--n'))
  .option('--frames <n>', 'Latte: frames per video (must be the model\'s num_frames)', integer('--frames'))
  .option('--steps <n>', 'sampling steps (default: the official script\'s: DiT 250, Latte 50, bundled 50)', integer('--steps'))
  .addOption(new Option('--sampler <name>', 'sampler (default: DiT ddpm, Latte ddim, bundled ddim)').choices(['ddim', 'ddpm']))
  .option('--cfg <scale>', 'classifier-free guidance scale (default: DiT 4, Latte 7, bundled 3)', number('--cfg'))
  .option('--cache <policy>', `Skip-Cache: none, ${Object.keys(cachePresets).join(', ')}, optionally ':N[:k]', e.g. dit:2 or dit:2:1`)
  .option('--seed <n>', 'seed of all noise', integer('--seed'), 0)
  .option('--nrow <n>', 'images per grid row (default: 4 for DiT as sample.py, a square grid otherwise)', integer('--nrow'))
  .option('--fps <n>', 'video frames per second', integer('--fps'), 8)
  .option('--out <file>', 'output: .png for images (default samples.png); .gif (default samples.gif), .mp4 (needs ffmpeg) or a folder of PNG frames for videos')
  .option('--json', 'print a JSON report')
  .action(generate);

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

/** loadModel, saying on stderr (one line) when 'auto' ran on the CPU because a CUDA device failed its self-test. */
async function loadCliModel(file: string, options: LoadModelOptions) {
  const model = await loadModel(file, options);
  if (options.backend === 'auto' || options.backend === undefined) {
    const auto = await autoBackend();
    if (auto.selfTest && !auto.selfTest.passed) console.error(`skipdit: ${auto.reason}; running on the CPU`);
  }
  return model;
}

program
  .command('bench')
  .description('measure this machine: FMA peak, full and cached steps, runs per cache policy, memory, per-op times')
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
  .action(async (opts: {
    model?: string; size: BenchSize; family: BenchFamily; dtype: ModelDType; batch: number; repeats: number; steps: number;
    policies?: string; profileForwards: number; peakSeconds: number; cacheDir?: string; json?: boolean;
  }) => {
    const report = await runBench({
      model: opts.model, size: opts.size, family: opts.family, dtype: opts.dtype, batch: opts.batch, repeats: opts.repeats,
      steps: opts.steps, policies: opts.policies?.split(',').map((p) => p.trim()), profileForwards: opts.profileForwards,
      peakSeconds: opts.peakSeconds, cacheDir: opts.cacheDir,
    });
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatBenchReport(report));
  });

program.parseAsync().catch((err: unknown) => {
  if (err instanceof SkipditError) console.error(`skipdit: ${err.name}: ${err.message}`);
  else console.error(err);
  process.exit(1);
});
