// The benchmark harness behind `skipdit bench` (and bench/cache.ts, bench/ort.ts): on random weights of an
// official size or on a user's checkpoint it measures the machine's FMA peak, full and cached steps, whole
// sampling runs per Skip-Cache policy against their FLOP-predicted speedup, peak memory, and per-op times.
// Variants are timed interleaved (A, B, C, A, B, C, ...) so that drifts in the speed of a shared machine hit
// every variant alike; medians are reported. Numbers are measured, never assumed.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeModel, families, sampleShape, usefulBranches } from './architecture.js';
import { normalizeConfig, type ModelConfig } from './config.js';
import { InvalidArgumentError } from './errors.js';
import { callFlops, forwardFlops } from './flops.js';
import { loadModel, type Model, type ModelDType, type ModelProfile } from './model.js';
import { native } from './native.js';
import { Pipeline } from './pipeline.js';
import { writeRandomCheckpoint } from './random-checkpoint.js';
import { cachePresets, type CachePolicyInput, type SkipCache } from './cache.js';
import type { Tensor } from './tensor.js';

/** Official model sizes (DiT-S/B/XL; Latte-XL is XL). */
export const benchSizes = {
  S: { depth: 12, hidden_size: 384, num_heads: 6 },
  B: { depth: 12, hidden_size: 768, num_heads: 12 },
  XL: { depth: 28, hidden_size: 1152, num_heads: 16 },
} as const;
export type BenchSize = keyof typeof benchSizes;
export type BenchFamily = 'dit' | 'latte';
/** The datasets of the released models: ImageNet (DiT), UCF-101 (Latte). */
const benchData = { dit: { num_classes: 1000, num_frames: 1 }, latte: { num_classes: 101, num_frames: 16 } } as const;

/**
 * A Skip-DiT config of an official size at 256x256 (latent 32x32, patch 2, 4 channels, learn_sigma): DiT with
 * 1000 classes, Latte with 16 frames and 101 classes (UCF-101).
 */
export function benchConfig(size: BenchSize, family: BenchFamily = 'dit'): ModelConfig {
  if (!(size in benchSizes)) throw InvalidArgumentError.expected('size', `one of ${Object.keys(benchSizes).join(', ')}`, size);
  if (!Object.hasOwn(benchData, family)) throw InvalidArgumentError.expected('family', "'dit' or 'latte'", family);
  return normalizeConfig({
    family, skip: true, patch_size: 2, input_size: 32, in_channels: 4, learn_sigma: true, ...benchData[family], ...benchSizes[size],
  });
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Wall milliseconds of each variant over `repeats` interleaved rounds, after `warmup` untimed rounds (which
 * size workspaces and fill caches), each run after `settleMs` of idle time.
 */
export async function interleaved<K extends string>(
  variants: Record<K, () => Promise<unknown>>,
  repeats: number,
  warmup = 1,
  settleMs = 0,
): Promise<Record<K, number[]>> {
  const names = Object.keys(variants) as K[];
  const times = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < warmup + repeats; round++) {
    for (const n of names) {
      // An untimed pause first where asked: engines whose threads spin after a run (ONNX Runtime's do, for
      // ~35 ms here) would otherwise take cores from the variant that follows.
      if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
      const t0 = performance.now();
      await variants[n]();
      if (round >= warmup) times[n].push(performance.now() - t0);
    }
  }
  return times;
}

/**
 * A random-weight checkpoint of `config` in `dir`, reused when already there (the file name is keyed by the
 * config and seed, so a changed config never reuses a stale file).
 */
export function randomCheckpoint(config: ModelConfig, dir: string, seed = 12345): { file: string; bytes: number } {
  const key = Object.entries(config).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',');
  let hash = 2166136261; // FNV-1a 32
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 16777619) >>> 0;
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `random-${config.family}-${config.hidden_size}x${config.depth}-${hash.toString(16)}-${seed}.safetensors`);
  if (existsSync(file)) return { file, bytes: statSync(file).size };
  const tmp = `${file}.${process.pid}.partial`; // never leave a truncated file under the final name
  writeRandomCheckpoint(tmp, config, seed);
  renameSync(tmp, file); // atomic on one file system
  return { file, bytes: statSync(file).size };
}

/** Deterministic latents x (B, [F,] C, H, W), timesteps and labels for a model (labels: [class 0.., null] for CFG). */
export function benchInput(config: ModelConfig, batch: number): { x: Tensor; t: number; y?: number[] } {
  const shape = [batch, ...sampleShape(config)];
  const x = { data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.37)), shape };
  if (config.num_classes === 0) return { x, t: 500 };
  const half = Math.max(1, batch / 2);
  const y = Array.from({ length: batch }, (_, i) => (i < half ? i % config.num_classes : config.num_classes));
  return { x, t: 500, y };
}

/** One sampler call as the pipeline makes it: CFG (cond + null rows) for class-conditional models with an even batch. */
async function step(model: Model, input: ReturnType<typeof benchInput>, cache?: SkipCache) {
  const cfg = input.y !== undefined && input.x.shape[0] % 2 === 0 && model.config.class_dropout;
  return cfg ? model.forwardWithCfg({ ...input, cfgScale: 4 }, { cache }) : model.forward(input, { cache });
}

export interface StepRow {
  name: string;
  /** Transformer blocks that ran. */
  blocks: number;
  ms: number;
  gflop: number;
  gflops: number;
  /** Percent of the measured peak of the model's precision (BenchReport.peakUsed). */
  peakPercent: number;
  /** full-step ms / this ms, and the same ratio of FLOPs. */
  speedup: number;
  predicted: number;
}

/**
 * A full step and cached steps keeping k units (blocks; Latte: spatial+temporal pairs) at each end, timed
 * interleaved. ks whose cached step would run every block (as a full one) are left out.
 */
export async function measureSteps(
  model: Model, batch: number, repeats: number, peakGflops: number, ks: readonly number[] = [1, 4],
): Promise<StepRow[]> {
  const c = model.config;
  const useful = usefulBranches(c);
  const input = benchInput(c, batch);
  const caches = Object.fromEntries(
    ks.filter((k) => useful.includes(k)).map((k) => [`cached step k=${k}`, model.createCache({ interval: 1_000_000, branch: k })]),
  );
  const blocks: Record<string, number> = {};
  const variants: Record<string, () => Promise<unknown>> = {};
  for (const name of ['full step', ...Object.keys(caches)]) {
    variants[name] = async () => { blocks[name] = (await step(model, input, caches[name])).blocksExecuted; };
  }
  const times = await interleaved(variants, repeats); // the warm-up round saves each cache's feature
  const fullMs = median(times['full step']);
  return Object.keys(variants).map((name) => {
    const ms = median(times[name]);
    const flops = callFlops(c, batch, blocks[name]);
    return {
      name, blocks: blocks[name], ms, gflop: flops / 1e9, gflops: flops / 1e6 / ms, peakPercent: (100 * flops) / 1e6 / ms / peakGflops,
      speedup: fullMs / ms, predicted: forwardFlops(c, batch) / flops,
    };
  });
}

export interface RunRow {
  policy: string;
  cachedSteps: number;
  ms: number;
  speedup: number;
  predicted: number;
}

/**
 * Whole DDIM runs, one per policy ('none' or a cache policy string), advanced in lockstep (one step of each in
 * turn) so they share the machine's conditions; each sums the time of its own steps. Class-conditional models
 * sample one image with CFG 4 (batch 2), unconditional ones one sample.
 */
export async function measureRuns(model: Model, steps: number, policies: readonly string[]): Promise<RunRow[]> {
  const conditional = model.config.num_classes > 0;
  const runs = policies.map((policy) => ({
    policy,
    pipe: new Pipeline(model, { sampler: 'ddim', steps, cfgScale: conditional ? 4 : 1, cache: policy === 'none' ? false : (policy as CachePolicyInput) })
      .init(conditional ? { labels: [0], seed: 0 } : { batch: 1, seed: 0 }),
    ms: 0,
  }));
  while (!runs[0].pipe.done) {
    for (const r of runs) r.ms += (await r.pipe.step()).ms;
  }
  const base = runs.find((r) => r.policy === 'none')?.ms ?? runs[0].ms;
  return runs.map((r) => ({
    policy: r.policy, cachedSteps: r.pipe.cacheStats.cachedSteps, ms: r.ms, speedup: base / r.ms, predicted: r.pipe.cacheStats.predictedSpeedup,
  }));
}

/**
 * The default policies: none, N = 2 and N = 3 of the family's preset. On models too shallow for the preset's k
 * (cached steps would run every block) k drops to the largest that skips something. Plain models: none only.
 */
export function defaultPolicies(config: ModelConfig): string[] {
  if (describeModel(config).skipPairs.length === 0) return ['none']; // a plain model: no Skip-Cache by default (a plain DiT may cache, as an ablation)
  const preset = families[config.family].cachePreset;
  const useful = usefulBranches(config);
  const k = useful.includes(cachePresets[preset].branch) ? '' : `:${Math.max(1, ...useful)}`;
  return ['none', `${preset}:2${k}`, `${preset}:3${k}`];
}

export interface OpRow {
  op: string;
  calls: number;
  /** Per forward. */
  ms: number;
  /** Share of the summed op time. */
  percent: number;
  /** null for ops whose FLOPs are not counted (elementwise, memory). */
  gflops: number | null;
}

export interface ProfileReport {
  forwards: number;
  /** Wall ms per full forward (as JS sees it) and the part of it spent inside backend ops. */
  wallMs: number;
  opsMs: number;
  ops: OpRow[];
}

/** Per-op times of `forwards` full steps of a model loaded with { profile: true }, per forward, slowest first. */
export async function measureProfile(model: Model, batch: number, forwards: number): Promise<ProfileReport> {
  const input = benchInput(model.config, batch);
  await step(model, input); // warm-up
  model.profile({ reset: true });
  const t0 = performance.now();
  for (let i = 0; i < forwards; i++) await step(model, input);
  const wallMs = (performance.now() - t0) / forwards;
  const profile = model.profile() as ModelProfile;
  const opsMs = profile.ops.reduce((a, o) => a + o.seconds, 0) * 1000 / forwards;
  const ops = profile.ops
    .map((o) => ({
      op: o.op, calls: o.calls / forwards, ms: (o.seconds * 1000) / forwards, percent: (100 * o.seconds * 1000) / forwards / opsMs,
      gflops: o.flops > 0 ? o.flops / 1e9 / o.seconds : null,
    }))
    .sort((a, b) => b.ms - a.ms);
  return { forwards, wallMs, opsMs, ops };
}

export interface BenchOptions {
  /** A checkpoint to measure; default: random weights of `size` / `family`. */
  model?: string;
  size?: BenchSize;
  family?: BenchFamily;
  dtype?: ModelDType;
  batch?: number;
  /** Timed rounds per step variant. */
  repeats?: number;
  /** DDIM steps of the whole runs; 0 skips them. */
  steps?: number;
  policies?: string[];
  /** Seconds of the FMA peak measurement. */
  peakSeconds?: number;
  /** Full forwards in the op profile; 0 skips it. */
  profileForwards?: number;
  /** Where random checkpoints are kept between runs; default: a temporary folder removed afterwards. */
  cacheDir?: string;
}

export interface BenchReport {
  model: { source: string; config: ModelConfig; dtype: ModelDType; backend: string; weightBytes: number };
  batch: number;
  peak: { gflops: number; threads: number; isa: string; bf16Gflops: number };
  /** The peak the '% peak' columns use: the bf16 dot-product one for bfloat16 models where it exists, else fp32 FMA. */
  peakUsed: { name: 'fp32 FMA' | 'bf16 dot product'; gflops: number };
  steps: StepRow[];
  runs: { steps: number; sampler: 'ddim'; rows: RunRow[] } | null;
  memory: { maxRssBytes: number; weightBytes: number; rssPerWeightByte: number };
  profile: ProfileReport | null;
}

const positiveInteger = (name: string, v: number, min = 1) => {
  if (!Number.isInteger(v) || v < min) throw InvalidArgumentError.expected(name, `an integer >= ${min}`, v);
  return v;
};

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const batch = positiveInteger('batch', options.batch ?? 2);
  const repeats = positiveInteger('repeats', options.repeats ?? 5);
  const steps = positiveInteger('steps', options.steps ?? 20, 0);
  const profileForwards = positiveInteger('profileForwards', options.profileForwards ?? 3, 0);
  const peakSeconds = options.peakSeconds ?? 0.5;
  if (!(peakSeconds > 0)) throw InvalidArgumentError.expected('peakSeconds', 'a positive number', peakSeconds);
  const size = options.size ?? 'S', family = options.family ?? 'dit';
  let file = options.model, source = options.model ?? '';
  const tempDir = file === undefined && options.cacheDir === undefined ? mkdtempSync(path.join(tmpdir(), 'skipdit-bench-')) : undefined;
  try {
    if (file === undefined) {
      const config = benchConfig(size, family);
      file = randomCheckpoint(config, options.cacheDir ?? tempDir!).file;
      source = `random ${families[family].name}-${size}/2-skip`;
    }
    const peak = native().measurePeak(peakSeconds);
    const model = await loadModel(file, { backend: 'cpu', dtype: options.dtype, profile: true });
    try {
      const peakUsed = peakFor(model.dtype, peak);
      const stepRows = await measureSteps(model, batch, repeats, peakUsed.gflops);
      const policies = options.policies ?? defaultPolicies(model.config);
      const runs = steps > 0 ? { steps, sampler: 'ddim' as const, rows: await measureRuns(model, steps, policies) } : null;
      const profile = profileForwards > 0 ? await measureProfile(model, batch, profileForwards) : null;
      const weightBytes = model.memory().weightBytes;
      const maxRssBytes = process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB
      return {
        model: { source, config: model.config, dtype: model.dtype, backend: model.backend, weightBytes },
        batch, peak, peakUsed, steps: stepRows, runs,
        memory: { maxRssBytes, weightBytes, rssPerWeightByte: maxRssBytes / weightBytes },
        profile,
      };
    } finally {
      model.dispose();
    }
  } finally {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

/** Right-aligned columns under a header; the first column left-aligned. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

/** A Markdown table (padded columns), as the bench quality / smoothness reports print it. */
export function markdownTable(head: string[], lines: string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
  const fmt = (cells: string[]) => `| ${cells.map((v, c) => v.padEnd(widths[c])).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

/** The peak a model of `dtype` is measured against: bf16 dot products for bfloat16 weights where the CPU has them. */
export function peakFor(dtype: ModelDType, peak: { gflops: number; bf16Gflops: number }): BenchReport['peakUsed'] {
  return dtype === 'bfloat16' && peak.bf16Gflops > 0 ? { name: 'bf16 dot product', gflops: peak.bf16Gflops } : { name: 'fp32 FMA', gflops: peak.gflops };
}

export function formatBenchReport(r: BenchReport): string {
  const c = r.model.config, out: string[] = [];
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  out.push(`${r.model.source}: ${c.family} D ${c.hidden_size} depth ${c.depth}, latent ${c.input_size}x${c.input_size}${families[c.family].video ? ` x ${c.num_frames} frames` : ''}, batch ${r.batch}, ${r.model.dtype} weights (${mib(r.model.weightBytes)}), ${r.model.backend}`);
  out.push(`FMA peak (measured): ${r.peak.gflops.toFixed(0)} GFLOP/s fp32 (${r.peak.threads} threads, ${r.peak.isa})` +
    (r.peak.bf16Gflops > 0 ? `; bf16 dot-product peak ${r.peak.bf16Gflops.toFixed(0)} GFLOP/s` : ''), '');
  out.push(table(
    ['step', 'blocks', 'median ms', 'GFLOP', 'GFLOP/s', r.peakUsed.name === 'fp32 FMA' ? '% peak' : '% bf16 peak', 'speedup', 'predicted'],
    r.steps.map((s) => [s.name, s.blocks, s.ms.toFixed(1), s.gflop.toFixed(2), s.gflops.toFixed(1), s.peakPercent.toFixed(0), `${s.speedup.toFixed(2)}x`, `${s.predicted.toFixed(2)}x`]),
  ));
  if (r.runs) {
    out.push('', table(
      [`${r.runs.steps}-step DDIM run`, 'cached steps', 'seconds', 'speedup', 'predicted (FLOPs)', 'measured/predicted'],
      r.runs.rows.map((x) => [x.policy, x.cachedSteps, (x.ms / 1000).toFixed(2), `${x.speedup.toFixed(2)}x`, `${x.predicted.toFixed(2)}x`, (x.speedup / x.predicted).toFixed(3)]),
    ));
  }
  out.push('', `peak RSS ${mib(r.memory.maxRssBytes)} = ${r.memory.rssPerWeightByte.toFixed(2)}x the weights (${mib(r.memory.weightBytes)}; RSS includes Node itself)`);
  if (r.profile) {
    const p = r.profile;
    out.push('', `per-op time of a full step (mean of ${p.forwards}): ops ${p.opsMs.toFixed(1)} ms of ${p.wallMs.toFixed(1)} ms wall`);
    out.push(table(
      ['op', 'calls', 'ms', '% of ops', 'GFLOP/s'],
      p.ops.map((o) => [o.op, o.calls, o.ms.toFixed(2), o.percent.toFixed(1), o.gflops === null ? '' : o.gflops.toFixed(1)]),
    ));
  }
  return out.join('\n');
}
