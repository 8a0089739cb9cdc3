#!/usr/bin/env node
// The skipdit command line. `skipdit sample` runs the official sampling loop (optionally with Skip-Cache)
// on a checkpoint and writes the latents; `skipdit backends` says what can run here.
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import path from 'node:path';
import { convertCheckpoint, inspectCheckpoint } from './checkpoint.js';
import { presets, type ModelConfig, type PresetName } from './config.js';
import { cachePresets, type CachePolicyInput } from './cache.js';
import { InvalidArgumentError, SkipditError } from './errors.js';
import { bundledModel } from './bundled.js';
import { imageGrid, writePng } from './image.js';
import { backends, loadModel } from './model.js';
import { Pipeline, type StepInfo } from './pipeline.js';
import { writeSafetensors } from './safetensors.js';

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
const configJson = (value: string): Partial<ModelConfig> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new CommanderArgumentError(`--config must be a JSON object, got '${value}'`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CommanderArgumentError('--config must be a JSON object');
  return parsed as Partial<ModelConfig>;
};
const configOption = () => new Option('--config <json>', 'config fields as JSON (e.g. \'{"num_heads": 4}\'), merged over what the file tells').argParser(configJson);
const collect = (parse: (v: string) => number) => (value: string, previous: number[] = []) => [...previous, parse(value)];

interface SampleOptions {
  model: string;
  key?: string;
  config?: Partial<ModelConfig>;
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
  const model = await loadModel(opts.model, { config: opts.config ?? opts.preset, backend: opts.backend, checkpointKey: opts.key });
  try {
    const cache = opts.cache === undefined || opts.cache === 'none' ? false : (opts.cache as CachePolicyInput);
    const pipe = new Pipeline(model, { sampler: opts.sampler, steps: opts.steps, eta: opts.eta, cfgScale: opts.cfg, cfgChannels: opts.cfgChannels, cache });
    const conditional = model.config.num_classes > 0;
    if (conditional && !opts.class) throw new InvalidArgumentError(`Expected --class <label...> for a class-conditional model (classes 0..${model.config.num_classes - 1})`);
    if (!conditional && opts.class) throw new InvalidArgumentError('Expected no --class for an unconditional model (use --batch)');
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
    writeSafetensors(opts.out, { samples }, metadata);

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
  config?: Partial<ModelConfig>;
  backend: 'auto' | 'cpu' | 'cuda';
  class: number[];
  n?: number;
  steps?: number;
  sampler?: 'ddim' | 'ddpm';
  cfg?: number;
  cache?: string;
  seed: number;
  nrow?: number;
  out: string;
  json?: boolean;
}

async function generate(opts: GenerateOptions): Promise<void> {
  const file = opts.model ?? bundledModel.path();
  const model = await loadModel(file, { config: opts.config, backend: opts.backend, checkpointKey: opts.key });
  try {
    const c = model.config;
    if (c.family !== 'dit' || (c.in_channels !== 1 && c.in_channels !== 3)) {
      throw new InvalidArgumentError(`Expected a pixel-space image model (DiT with 1 or 3 channels) for generate but '${file}' makes ${c.family === 'latte' ? 'video ' : ''}latents with ${c.in_channels} channels: decoding latents needs the VAE (use 'skipdit sample' for the latents)`);
    }
    const n = opts.n ?? opts.class.length;
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InvalidArgumentError(`Expected --n in [1, 1024] but received ${opts.n}`);
    const labels = Array.from({ length: n }, (_, i) => opts.class[i % opts.class.length]);
    const defaults = opts.model ? { sampler: 'ddim' as const, steps: 50, cfgScale: 4 } : bundledModel.defaults;
    const cache = opts.cache === undefined || opts.cache === 'none' ? false : (opts.cache as CachePolicyInput);
    const pipe = new Pipeline(model, { sampler: opts.sampler ?? defaults.sampler, steps: opts.steps ?? defaults.steps, cfgScale: opts.cfg ?? defaults.cfgScale, cache });
    pipe.init({ labels, seed: opts.seed });
    const bar = opts.json ? undefined : new cliProgress.SingleBar({ format: 'generating [{bar}] {value}/{total} steps | {duration_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
    bar?.start(pipe.sampler.steps, 0);
    const started = performance.now();
    const samples = await pipe.run({ onStep: (info) => bar?.update(info.index + 1) });
    const ms = performance.now() - started;
    bar?.stop();
    const grid = imageGrid(samples, { nrow: opts.nrow ?? Math.ceil(Math.sqrt(n)) });
    writePng(opts.out, grid);
    const stats = pipe.cacheStats;
    const report = { model: file, out: opts.out, labels, width: grid.width, height: grid.height, ms, steps: pipe.sampler.steps, cachedSteps: stats.cachedSteps, predictedSpeedup: stats.predictedSpeedup };
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else console.log(`wrote ${opts.out} (${grid.width}x${grid.height}, ${n} image${n > 1 ? 's' : ''} of class ${[...new Set(labels)].join(', ')}) in ${(ms / 1000).toFixed(2)} s, ${stats.cachedSteps} of ${stats.calls} steps cached`);
  } finally {
    model.dispose();
  }
}

program
  .command('generate')
  .description('generate images with a pixel-space model (default: the bundled MNIST digits Skip-DiT) and write a PNG grid')
  .option('--model <file>', 'weights (default: the bundled digits model)')
  .option('--key <name>', 'state dict of a training checkpoint')
  .addOption(configOption())
  .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
  .requiredOption('--class <label...>', 'class label(s); with --n they repeat to fill the batch', (v: string, p?: number[]) => collect(integer('--class'))(v, p))
  .option('--n <count>', 'number of images (default: one per --class)', integer('--n'))
  .option('--steps <n>', 'sampling steps (default 50)', integer('--steps'))
  .addOption(new Option('--sampler <name>', 'sampler (default ddim)').choices(['ddim', 'ddpm']))
  .option('--cfg <scale>', 'classifier-free guidance scale (bundled model default 3)', number('--cfg'))
  .option('--cache <policy>', `Skip-Cache: none, ${Object.keys(cachePresets).join(', ')}, optionally ':N', e.g. dit:2`)
  .option('--seed <n>', 'seed of all noise', integer('--seed'), 0)
  .option('--nrow <n>', 'images per grid row (default: a square grid)', integer('--nrow'))
  .option('--out <file>', 'output PNG', 'samples.png')
  .option('--json', 'print a JSON report')
  .action(generate);

program
  .command('inspect <file>')
  .description('describe a weights file (safetensors or torch .pt): tensors, dtypes, picked state dict, inferred config')
  .option('--key <name>', 'state dict of a training checkpoint (ema, model, root, ...)')
  .addOption(new Option('--preset <name>', 'config to check the file against').choices(Object.keys(presets)))
  .addOption(configOption())
  .option('--json', 'machine-readable output')
  .action((file: string, opts: { key?: string; preset?: PresetName; config?: Partial<ModelConfig>; json?: boolean }) => {
    const info = inspectCheckpoint(file, { key: opts.key, config: opts.config ?? opts.preset });
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
  .description('list the compute backends and why any is unavailable')
  .action(() => {
    for (const b of backends()) console.log(`${b.name}: ${b.available ? 'available' : `unavailable (${b.reason})`} ${JSON.stringify(b.details)}`);
  });

program.parseAsync().catch((err: unknown) => {
  if (err instanceof SkipditError) console.error(`skipdit: ${err.name}: ${err.message}`);
  else console.error(err);
  process.exit(1);
});
