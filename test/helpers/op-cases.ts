// The Backend-op cases shared by test/backend-ops.test.ts (the runOp hook of the test addon on CPU) and test/cuda.test.ts
// (every CUDA op against its CPU twin): awkward sizes (97, 257, 1025 tokens; head dims 16, 40, 64, 72, 97,
// 128, 512; K not a multiple of 8 or of the tiles), seeded inputs, never zeros.
import { createSampler } from '../../lib/samplers.js';
import { DiffusersDDIMScheduler, DiffusersDDPMScheduler, type DiffusersDDIMConfig, type DiffusersDDPMConfig } from '../../lib/schedulers.js';
import { randn } from './compare.js';
import { testNative } from './test-native.js';
import { gelu, groupNorm } from '../reference/ops.js';

export interface OpCase {
  op: string;
  label: string;
  args: Record<string, unknown>;
  /** The op multiplies by a prepared weight (w): its bf16 / fp16 error follows the rounding of x and w. */
  weighted?: boolean;
  /** The op's token tensors take the activation type (args.act = 1): bf16 / fp16 on CUDA at those precisions. */
  activation?: boolean;
  /** The result must equal the reference bit for bit (float32 ops in a fixed order, no FMA contraction). */
  exact?: boolean;
  /** The expected result, computed in TypeScript from the case's arguments (ops whose reference lives with their case). */
  expected?: () => Float32Array;
  /**
   * For an activation case: the same math in a low precision, its activation-typed inputs and its output rounded
   * by `round` (bf16 / fp16), the rest float32. test/cuda.test.ts bounds the CUDA error at that precision by it.
   */
  lowPrecision?: (round: (x: ArrayLike<number>) => Float32Array) => Float32Array;
}

/** The sampler a sampler_update case reproduces (op-reference.ts runs its TypeScript step()). */
export interface SamplerSpec {
  name: 'ddim' | 'ddpm';
  steps: number;
  index: number;
  eta?: number;
  variance?: 'learned_range' | 'fixed_large' | 'fixed_small';
}

/** The diffusers DDIMScheduler / DDPMScheduler step a sampler_update case reproduces (op-reference.ts runs its step()). */
export type DiffusersSpec =
  | { scheduler?: 'ddim'; steps: number; index: number; config?: DiffusersDDIMConfig }
  | { scheduler: 'ddpm'; steps: number; index: number; config?: DiffusersDDPMConfig };

/** The scheduler of a DiffusersSpec. */
export function diffusersScheduler(spec: DiffusersSpec): DiffusersDDIMScheduler | DiffusersDDPMScheduler {
  return spec.scheduler === 'ddpm' ? new DiffusersDDPMScheduler(spec.steps, spec.config) : new DiffusersDDIMScheduler(spec.steps, spec.config);
}

let seed = 1000;
const r = (n: number, scale = 1) => randn(n, seed++, scale);

export function opCases(): OpCase[] {
  seed = 1000;
  const cases: OpCase[] = [];
  const add = (op: string, label: string, args: Record<string, unknown>, weighted = false) => cases.push({ op, label, args, weighted });

  for (const [M, K, N] of [[1, 1, 1], [97, 72, 33], [5, 17, 130], [130, 1152, 257], [3, 1000, 7], [257, 256, 200]]) {
    const x = r(M * K), w = r(N * K, 1 / Math.sqrt(K)), bias = r(N);
    add('linear', `M=${M} K=${K} N=${N} bias`, { M, K, N, x, w, bias }, true);
    add('linear', `M=${M} K=${K} N=${N} no bias, GELU`, { M, K, N, x, w, gelu: 1 }, true);
  }
  for (const [G, N, D, K, repeat] of [[4, 97, 72, 144, 2], [3, 17, 33, 40, 1], [2, 129, 130, 36, 2]]) {
    add('linear_gate_residual', `G=${G} N=${N} D=${D} K=${K} repeat=${repeat}`,
      { G, N, D, K, repeat, chunks: 6, gateChunk: 2, x: r(G * N * K), w: r(D * K, 1 / Math.sqrt(K)), bias: r(D), mod: r((G / repeat) * 6 * D), h: r(G * N * D) }, true);
  }
  for (const [rows, D] of [[97, 72], [3, 1152], [10, 2304], [5, 1]]) {
    const x = r(rows * D, 3).map((v) => v + 5); // an offset mean exercises the variance
    add('layer_norm', `rows=${rows} D=${D}`, { rows, D, x, eps: 1e-6 });
    add('layer_norm', `rows=${rows} D=${D} affine`, { rows, D, x, eps: 1e-6, gamma: r(D), beta: r(D) });
  }
  for (const [rows, D] of [[97, 40], [5, 1152]]) {
    add('layer_norm_concat', `rows=${rows} D=${D}`, { rows, D, a: r(rows * D), b: r(rows * D, 10), gamma: r(2 * D), beta: r(2 * D), eps: 1e-6 });
  }
  for (const [G, N, D, repeat] of [[6, 17, 72, 3], [2, 257, 64, 1]]) {
    const base = { G, N, D, repeat, chunks: 6, mod: r((G / repeat) * 6 * D) };
    add('layer_norm_modulate', `G=${G} N=${N} D=${D} repeat=${repeat}`, { ...base, x: r(G * N * D, 2), eps: 1e-6, shiftChunk: 3, scaleChunk: 4 });
  }
  for (const n of [1, 100003]) {
    add('silu', `n=${n}`, { n, x: r(n, 4) });
    add('add', `n=${n}`, { n, x: r(n), y: r(n) });
  }
  add('copy', 'n=1031', { n: 1031, x: r(1031) });
  add('add_broadcast_rows', 'G=5 N=97 D=33', { G: 5, N: 97, D: 33, x: r(5 * 97 * 33), e: r(97 * 33) });
  for (const [G, N, H, hd] of [[2, 97, 3, 16], [1, 257, 2, 72], [3, 33, 2, 64], [1, 1025, 1, 40], [32, 16, 4, 72], [1, 100, 1, 128], [1, 31, 2, 97], [1, 70, 1, 512]]) {
    add('attention', `G=${G} N=${N} H=${H} hd=${hd}`, { G, N, H, hd, qkv: r(G * N * 3 * H * hd, 2) });
  }
  // Attention on activation-typed qkv (bf16 / fp16 on CUDA: the tensor-core kernel for head dims that are
  // multiples of 8 up to 128, several key tiles and a partial last tile; hd 97 stays on the SIMT kernel).
  for (const [G, N, H, hd] of [[2, 97, 3, 16], [1, 257, 2, 72], [3, 33, 2, 64], [1, 100, 1, 128], [2, 130, 2, 40], [4, 256, 2, 72], [1, 70, 2, 96], [1, 31, 2, 97], [1, 5, 1, 8]]) {
    cases.push({ op: 'attention', label: `G=${G} N=${N} H=${H} hd=${hd} activation-typed`, args: { G, N, H, hd, act: 1, qkv: r(G * N * 3 * H * hd, 2) }, activation: true });
  }
  for (const [B, C, H, W, p, D] of [[2, 4, 8, 12, 2, 72], [1, 3, 9, 9, 3, 33]]) {
    add('patch_embed', `B=${B} C=${C} ${H}x${W} p=${p} D=${D}`, { B, C, H, W, p, D, x: r(B * C * H * W), w: r(D * C * p * p, 0.3), bias: r(D) });
  }
  add('timestep_frequencies', 'B=5 dim=256', { B: 5, dim: 256, t: new Float32Array([0, 1, 500.5, 999, 37]) });
  add('timestep_frequencies', 'B=2 dim=33', { B: 2, dim: 33, t: new Float32Array([999, 3]) });
  add('embedding', 'rows=11 D=72 B=5', { rows: 11, D: 72, B: 5, table: r(11 * 72), labels: new Int32Array([0, 10, 3, 3, 7]) });
  add('unpatchify', 'B=2 G=4 p=2 C=8', { B: 2, G: 4, p: 2, C: 8, tokens: r(2 * 16 * 4 * 8) });
  add('unpatchify', 'B=1 G=3 p=3 C=5', { B: 1, G: 3, p: 3, C: 5, tokens: r(9 * 9 * 5) });
  add('swap_token_axes', 'B=2 A1=5 A2=97 D=33', { B: 2, A1: 5, A2: 97, D: 33, x: r(2 * 5 * 97 * 33) });
  add('cfg_guidance', 'B=4 F=3 C=8 HW=20 guided=4', { B: 4, F: 3, C: 8, HW: 20, guided: 4, scale: 4, uncondFirst: 0, raw: r(4 * 3 * 8 * 20) });
  add('cfg_guidance', 'B=2 F=1 C=3 HW=17 guided=3', { B: 2, F: 1, C: 3, HW: 17, guided: 3, scale: 1.5, uncondFirst: 0, raw: r(2 * 3 * 17) });
  // LatteT2V: [uncond, cond] rows, every channel guided
  add('cfg_guidance', 'B=4 F=1 C=8 HW=3x5x5 guided=8 uncond first', { B: 4, F: 1, C: 8, HW: 75, guided: 8, scale: 7.5, uncondFirst: 1, raw: r(4 * 8 * 75) });
  add('cfg_guidance', 'B=2 F=2 C=5 HW=9 guided=2 uncond first', { B: 2, F: 2, C: 5, HW: 9, guided: 2, scale: 3, uncondFirst: 1, raw: r(2 * 2 * 5 * 9) });
  // Sampler updates (x (outer, C, inner); out with the variance channels when doubled): DDIM deterministic, DDIM
  // eta > 0, DDPM with each variance, the last step of each; DiT (outer = B) and Latte (outer = B * F) layouts.
  const samplers: SamplerSpec[] = [
    { name: 'ddim', steps: 10, index: 3 }, { name: 'ddim', steps: 10, index: 9 }, { name: 'ddim', steps: 7, index: 2, eta: 0.7 },
    { name: 'ddim', steps: 7, index: 6, eta: 1 }, { name: 'ddpm', steps: 12, index: 4, variance: 'learned_range' },
    { name: 'ddpm', steps: 12, index: 11, variance: 'learned_range' }, { name: 'ddpm', steps: 5, index: 1, variance: 'fixed_large' },
    { name: 'ddpm', steps: 5, index: 2, variance: 'fixed_small' },
  ];
  for (const spec of samplers) {
    for (const [outer, C, inner, doubled] of [[2, 4, 15, 1], [6, 4, 7, 1], [3, 3, 17, 0]]) {
      if (!doubled && spec.variance === 'learned_range') continue;
      const sampler = createSampler(spec.name, spec.steps, { eta: spec.eta, variance: spec.variance });
      const n = outer * C * inner;
      cases.push({
        op: 'sampler_update', label: `${spec.name} ${spec.variance ?? `eta=${spec.eta ?? 0}`} step ${spec.index}/${spec.steps} outer=${outer} C=${C} inner=${inner} doubled=${doubled}`,
        args: { outer, C, inner, doubled, x: r(n), out: r(doubled ? 2 * n : n), noise: r(n), update: sampler.coefficients(spec.index), sampler: spec },
        exact: true,
      });
    }
  }
  // diffusers' DDIMScheduler.step (LatteT2V: outer = B, channels before frames): leading, trailing, clip_sample
  const diffusers: DiffusersSpec[] = [
    { steps: 8, index: 3 }, { steps: 50, index: 49, config: { timestepSpacing: 'trailing' } },
    { steps: 5, index: 0, config: { clipSample: true, clipSampleRange: 0.5 } },
  ];
  for (const [spec, outer, C, inner] of diffusers.map((s, i) => [s, ...[[1, 4, 3 * 8 * 8], [2, 4, 33], [1, 3, 17]][i]] as const)) {
    const scheduler = new DiffusersDDIMScheduler(spec.steps, spec.config);
    const n = outer * C * inner;
    cases.push({
      op: 'sampler_update', label: `ddim-diffusers step ${spec.index}/${spec.steps} ${JSON.stringify(spec.config ?? {})} outer=${outer} C=${C} inner=${inner}`,
      args: { outer, C, inner, doubled: 1, x: r(n, 30), out: r(2 * n), update: scheduler.coefficients(spec.index), diffusers: spec },
      exact: true,
    });
  }
  for (const [B, C, H, W, groups, silu] of [[2, 64, 9, 7, 32, 1], [1, 32, 33, 31, 8, 0]]) {
    add('group_norm', `B=${B} C=${C} ${H}x${W} groups=${groups} silu=${silu}`,
      { B, C, H, W, groups, silu, eps: 1e-6, x: r(B * C * H * W, 2).map((v) => v + 1), gamma: r(C), beta: r(C) });
  }
  for (const [B, Cin, H, W, Cout, k] of [[2, 4, 9, 7, 33, 3], [1, 64, 16, 16, 64, 3], [1, 5, 10, 3, 7, 1], [1, 130, 5, 6, 129, 3]]) {
    add('conv2d', `B=${B} Cin=${Cin} ${H}x${W} Cout=${Cout} k=${k}`,
      { B, Cin, H, W, Cout, k, x: r(B * Cin * H * W), w: r(Cout * Cin * k * k, 1 / Math.sqrt(Cin * k * k)), bias: r(Cout) }, true);
  }
  add('upsample_nearest2x', 'B=2 C=3 5x7', { B: 2, C: 3, H: 5, W: 7, x: r(2 * 3 * 5 * 7) });

  // The SVD temporal VAE decoder's ops, each against a plain TypeScript reference: group_norm whose statistics span
  // the frames of each video (torch's GroupNorm on the 5-D tensor), the (kt, 1, 1) temporal convolution with zero
  // padding at each video's ends, the learned blend (float32 ops as torch, bit-exact).
  for (const [V, F, C, H, W, groups, silu] of [[2, 3, 64, 5, 7, 32, 1], [1, 5, 32, 3, 4, 8, 0], [3, 1, 32, 2, 3, 32, 1], [1, 14, 64, 1, 3, 32, 1]]) {
    const N = V * F, args = { B: N, C, H, W, groups, silu, frames: F, eps: 1e-5, x: r(N * C * H * W, 2).map((v) => v + 1), gamma: r(C), beta: r(C) };
    cases.push({ op: 'group_norm', label: `B=${N} (${V} videos of ${F} frames) C=${C} ${H}x${W} groups=${groups} silu=${silu}`, args,
      expected: () => groupNormFramesReference(args) });
  }
  for (const [N, F, Cin, Cout, H, W, kt] of [[6, 3, 5, 7, 3, 5, 3], [4, 1, 33, 17, 4, 4, 3], [10, 5, 3, 3, 1, 7, 3], [2, 2, 130, 129, 3, 3, 3], [7, 7, 16, 9, 2, 3, 5]]) {
    const args = { N, F, Cin, Cout, H, W, kt, x: r(N * Cin * H * W), w: r(Cout * Cin * kt, 1 / Math.sqrt(Cin * kt)), bias: r(Cout) };
    cases.push({ op: 'temporal_conv', label: `N=${N} frames=${F} Cin=${Cin} Cout=${Cout} ${H}x${W} kt=${kt}`, args, expected: () => temporalConvReference(args) });
  }
  for (const [n, m] of [[1031, -1.6484375], [100003, 2.408203125]]) {
    const w = f32(1 - f32(1 / f32(1 + f32(Math.exp(-m))))), args = { n, wa: w, wb: f32(1 - w), a: r(n, 3), b: r(n) };
    cases.push({ op: 'blend', label: `n=${n} mix_factor=${m}`, args, exact: true,
      expected: () => Float32Array.from(args.a, (v, i) => f32(f32(args.wa * v) + f32(args.wb * args.b[i]))) });
  }

  // Hunyuan-DiT's row and column movers and the rectangular unpatchify, each against a plain TypeScript reference.
  for (const [R, W, offset, width] of [[7, 12, 4, 4], [130, 192, 128, 64], [1, 5, 0, 5]]) {
    const args = { R, W, offset, width, x: r(R * W) };
    cases.push({ op: 'slice_columns', label: `${R}x${W} columns [${offset}, ${offset + width})`, args, exact: true,
      expected: () => Float32Array.from({ length: R * width }, (_, i) => args.x[Math.floor(i / width) * W + offset + (i % width)]) });
  }
  for (const [G, N, D] of [[3, 17, 9], [2, 1, 64]]) {
    const args = { G, N, D, x: r(G * N * D), e: r(G * D) };
    cases.push({ op: 'add_group_rows', label: `G=${G} N=${N} D=${D}`, args, exact: true,
      expected: () => Float32Array.from(args.x, (v, i) => f32(v + args.e[Math.floor(i / (N * D)) * D + (i % D)])) });
  }
  for (const [B, L, D] of [[2, 12, 24], [3, 5, 7]]) {
    const keep = Float32Array.from({ length: B * L }, (_, i) => (i * 7) % 3 === 0 ? 0 : 1);
    const args = { B, L, D, x: r(B * L * D), keep, table: r(L * D) };
    cases.push({ op: 'select_rows', label: `B=${B} L=${L} D=${D} (a third padded)`, args, exact: true,
      expected: () => Float32Array.from({ length: B * L * D }, (_, i) => {
        const row = Math.floor(i / D);
        return keep[row] ? args.x[i] : args.table[(row % L) * D + (i % D)];
      }) });
  }
  for (const [G, N, D] of [[2, 257, 33], [1, 1, 8]]) {
    const args = { G, N, D, x: r(G * N * D, 3) };
    cases.push({ op: 'mean_tokens', label: `G=${G} N=${N} D=${D}`, args, exact: true,
      expected: () => Float32Array.from({ length: G * D }, (_, i) => {
        const g = Math.floor(i / D), d = i % D;
        let sum = 0;
        for (let n = 0; n < N; n++) sum += args.x[(g * N + n) * D + d];
        return f32(sum / N);
      }) });
  }
  for (const [R, A, Bc] of [[2, 1024, 1536], [3, 5, 1]]) {
    const args = { R, A, Bc, a: r(R * A), b: r(R * Bc) };
    cases.push({ op: 'concat_columns', label: `${R} rows, ${A} + ${Bc} columns`, args, exact: true,
      expected: () => Float32Array.from({ length: R * (A + Bc) }, (_, i) => {
        const row = Math.floor(i / (A + Bc)), col = i % (A + Bc);
        return col < A ? args.a[row * A + col] : args.b[row * Bc + col - A];
      }) });
  }
  for (const [B, Gh, Gw, p, C] of [[2, 3, 5, 2, 8], [1, 4, 1, 3, 5]]) {
    const args = { B, Gh, Gw, p, C, tokens: r(B * Gh * Gw * p * p * C) };
    cases.push({ op: 'unpatchify', label: `B=${B} ${Gh}x${Gw} tokens p=${p} C=${C} (rectangular)`, args, exact: true,
      expected: () => Float32Array.from({ length: B * C * Gh * p * Gw * p }, (_, i) => {
        const H = Gh * p, W = Gw * p, x = i % W, y = Math.floor(i / W) % H, bc = Math.floor(i / (H * W)), b = Math.floor(bc / C), ch = bc % C;
        return args.tokens[(b * Gh * Gw + Math.floor(y / p) * Gw + Math.floor(x / p)) * p * p * C + ((y % p) * p + (x % p)) * C + ch];
      }) });
  }

  // Text-encoder / cross-attention ops, each with its TypeScript reference (below opCases). Activation cases
  // take bf16 / fp16 inputs on CUDA at those precisions.
  const withRef = (op: string, label: string, args: A, ref: (a: A) => Float32Array, more: Partial<OpCase> = {}) =>
    cases.push({ op, label, args, expected: () => ref(args), ...more });
  const actCase = (op: string, label: string, args: A, ref: (a: A) => Float32Array, actInputs: string[]) =>
    withRef(op, `${label} activation-typed`, { ...args, act: 1 }, ref, {
      activation: true,
      lowPrecision: (round) => round(ref({ ...args, ...Object.fromEntries(actInputs.map((n) => [n, round(args[n])])) })),
    });

  // sdpa: self- and cross-attention (Lq != Lk), bias broadcast each way, key masks with fully masked rows, T5's
  // scale 1 with a position bias, Latte's -10000 bias, head dims on every CUDA path (<= 64, 96, 128, 256).
  type SdpaOpts = { scale?: number; bias?: [number, number, number]; biasScale?: number; mask?: 'prefix' | 'full'; latte?: boolean; qScale?: number; act?: boolean };
  const sdpaCase = (G: number, Lq: number, Lk: number, H: number, hd: number, o: SdpaOpts = {}) => {
    const D = H * hd;
    const args: A = { G, Lq, Lk, H, hd, scale: o.scale ?? 0, q: r(G * Lq * D, o.qScale ?? 1), k: r(G * Lk * D), v: r(G * Lk * D) };
    let mask: Float32Array | undefined;
    if (o.mask || o.latte) {
      // row g keeps its first Lk - 2g keys (padding at the end, as tokenizers do); 'full': the last row keeps none
      mask = new Float32Array(G * Lk).map((_, e) => (e % Lk < Lk - 2 * Math.floor(e / Lk) ? 1 : 0));
      if (o.mask === 'full') mask.fill(0, (G - 1) * Lk);
    }
    if (o.latte) {
      args.biasShape = [G, 1, 1];
      args.bias = mask!.map((m) => (1 - m) * -10000);
    } else {
      if (mask) args.keyMask = mask;
      if (o.bias) {
        args.biasShape = o.bias;
        args.bias = r(o.bias[0] * o.bias[1] * o.bias[2] * Lk, o.biasScale ?? 2);
      }
    }
    const what = [o.scale ? `scale=${o.scale}` : '', o.bias ? `bias (${o.bias.join(', ')}, Lk)` : '', o.latte ? 'latte bias (G, 1, 1, Lk)' : '',
      o.mask ? `key mask ${o.mask}` : ''].filter(Boolean).join(' ');
    const label = `G=${G} Lq=${Lq} Lk=${Lk} H=${H} hd=${hd}${what ? ` ${what}` : ''}`;
    withRef('sdpa', label, args, sdpaReference);
    if (o.act) actCase('sdpa', label, args, sdpaReference, ['q', 'k', 'v']);
  };
  sdpaCase(2, 7, 13, 3, 8, { act: true });
  sdpaCase(1, 97, 77, 1, 40, { bias: [1, 1, 97] });
  sdpaCase(3, 1, 120, 3, 64, { mask: 'full', act: true });
  sdpaCase(2, 13, 13, 3, 16, { scale: 1, bias: [1, 3, 13], mask: 'prefix', qScale: 0.25, act: true }); // T5
  sdpaCase(4, 97, 7, 2, 12, { latte: true });
  sdpaCase(2, 7, 1, 3, 8, { bias: [2, 3, 7], mask: 'full' });
  sdpaCase(2, 33, 77, 2, 88, { bias: [1, 2, 1], mask: 'full', act: true });
  sdpaCase(3, 13, 120, 1, 64, { bias: [3, 1, 13], scale: 0.3 });
  sdpaCase(3, 77, 77, 4, 16, { mask: 'prefix' }); // BERT
  sdpaCase(2, 64, 12, 4, 16, { act: true }); // Hunyuan-DiT's cross-attention
  sdpaCase(1, 257, 300, 2, 64, { act: true });
  sdpaCase(2, 31, 33, 2, 128, { mask: 'prefix', bias: [1, 1, 1] });
  sdpaCase(1, 9, 40, 1, 200, { act: true });

  for (const [rows, D, weighted, scale] of [[97, 64, 1, 1], [3, 4096, 1, 3], [5, 1, 0, 1], [150, 2048, 1, 20]] as const) {
    const args: A = { rows, D, eps: 1e-6, x: r(rows * D, scale), weight: weighted ? r(D).map((v) => Math.exp(0.5 * v)) : undefined };
    const label = `rows=${rows} D=${D}${weighted ? ' weight' : ''}`;
    withRef('rms_norm', label, args, rmsNormReference);
    if (rows !== 5) actCase('rms_norm', label, args, rmsNormReference, ['x']);
  }

  for (const [G, L, H, hd] of [[2, 16, 4, 16], [3, 97, 3, 88], [1, 15, 1, 2], [2, 33, 2, 72]]) {
    // tables with a distinct angle per column (the op takes any table; Hunyuan's repeat each angle per pair)
    const angle = r(L * hd, 10);
    const args: A = { G, L, H, hd, x: r(G * L * H * hd, 2), cos: angle.map(Math.cos), sin: angle.map(Math.sin) };
    const label = `G=${G} L=${L} H=${H} hd=${hd}`;
    withRef('rope_2d', label, args, rope2dReference, { exact: true });
    if (L !== 15) actCase('rope_2d', label, args, rope2dReference, ['x']);
  }

  for (const shape of [[1], [100003], [97, 96]]) {
    const n = shape.reduce((x, y) => x * y, 1);
    const gg: A = { shape, a: r(n, 3), b: r(n, 2) };
    withRef('gated_gelu', `shape=${shape.join('x')}`, gg, gatedGeluReference);
    if (n > 1) actCase('gated_gelu', `shape=${shape.join('x')}`, gg, gatedGeluReference, ['a', 'b']);
    const ge: A = { shape, x: r(n, 4) };
    withRef('gelu_erf', `shape=${shape.join('x')}`, ge, geluErfReference);
    if (n > 1) actCase('gelu_erf', `shape=${shape.join('x')}`, ge, geluErfReference, ['x']);
  }

  // T5's encoder (32 buckets, 128), a decoder-style unidirectional one, few buckets, an odd count, offsets far
  // past max_distance (the cap)
  for (const [qLen, kLen, H, numBuckets, maxDistance, bidirectional] of [[16, 16, 4, 32, 128, 1], [150, 150, 4, 32, 128, 1], [7, 300, 3, 32, 128, 0],
    [97, 13, 1, 8, 20, 1], [1, 5000, 2, 32, 128, 1], [40, 40, 2, 33, 50, 1], [300, 2, 2, 16, 64, 0]]) {
    withRef('relative_position_bias', `q=${qLen} k=${kLen} H=${H} buckets=${numBuckets} max_distance=${maxDistance}${bidirectional ? ' bidirectional' : ''}`,
      { qLen, kLen, H, numBuckets, maxDistance, bidirectional, table: r(numBuckets * H) }, relativePositionBiasReference, { exact: true });
  }
  // (Last, so that the inputs of the cases above keep their seeds.) diffusers' DDIMScheduler.step with v
  // prediction and Hunyuan-DiT's scaled_linear table. DDPMScheduler.step (Hunyuan-DiT: (B, 2C, H, W), outer = B): its
  // default (v, noise at every step, the last one with the variance clamped to 1e-20), epsilon, clip_sample, and a
  // last step at t = 0 (steps_offset 0: no noise).
  const hunyuan = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.02, predictionType: 'v_prediction', stepsOffset: 1 } as const;
  const diffusersV: [DiffusersSpec, number, number, number, number][] = [
    [{ steps: 10, index: 4, config: hunyuan }, 2, 4, 37, 1],
    [{ steps: 7, index: 6, config: { ...hunyuan, clipSample: true, clipSampleRange: 0.8 } }, 3, 3, 17, 0],
    [{ scheduler: 'ddpm', steps: 10, index: 0 }, 2, 4, 8 * 8, 1],
    [{ scheduler: 'ddpm', steps: 10, index: 9 }, 1, 4, 37, 1],
    [{ scheduler: 'ddpm', steps: 25, index: 7, config: { predictionType: 'epsilon', timestepSpacing: 'trailing' } }, 3, 5, 13, 0],
    [{ scheduler: 'ddpm', steps: 6, index: 2, config: { predictionType: 'epsilon', clipSample: true, betaSchedule: 'linear', betaStart: 0.0001 } }, 2, 3, 17, 1],
    [{ scheduler: 'ddpm', steps: 6, index: 5, config: { stepsOffset: 0, clipSample: true, clipSampleRange: 2 } }, 1, 4, 97, 1],
  ];
  for (const [spec, outer, C, inner, doubled] of diffusersV) {
    const update = diffusersScheduler(spec).coefficients(spec.index);
    const n = outer * C * inner;
    cases.push({
      op: 'sampler_update', label: `${update.kind} step ${spec.index}/${spec.steps} ${JSON.stringify(spec.config ?? {})} outer=${outer} C=${C} inner=${inner} doubled=${doubled}`,
      args: { outer, C, inner, doubled, x: r(n, 30), out: r(doubled ? 2 * n : n, 10), noise: r(n), update, diffusers: spec },
      exact: true,
    });
  }
  return cases;
}

const f32 = Math.fround;
const FINFO_MIN = -3.4028234663852886e38; // torch.finfo(torch.float32).min

/** sdpa: per (g, h, i) the scores in float32 steps (dot, * scale, + (bias + (1 - m) * finfo.min)), a float64 softmax and p v. */
function sdpaReference(a: A): Float32Array {
  const { G, Lq, Lk, H, hd, q, k, v, bias, keyMask } = a;
  const D = H * hd, scale = f32(a.scale || 1 / Math.sqrt(hd));
  const [Gb, Hb, Lqb] = (a.biasShape ?? [1, 1, 1]) as number[];
  const out = new Float32Array(G * Lq * D), s = new Float64Array(Lk);
  for (let g = 0; g < G; g++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Lq; i++) {
        const qo = (g * Lq + i) * D + h * hd;
        let max = -Infinity;
        for (let j = 0; j < Lk; j++) {
          const ko = (g * Lk + j) * D + h * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qo + d] * k[ko + d];
          const b = bias ? bias[(((Gb === 1 ? 0 : g) * Hb + (Hb === 1 ? 0 : h)) * Lqb + (Lqb === 1 ? 0 : i)) * Lk + j] : 0;
          const m = keyMask ? f32((1 - keyMask[g * Lk + j]) * FINFO_MIN) : 0;
          s[j] = f32(f32(f32(dot) * scale) + f32(b + m));
          max = Math.max(max, s[j]);
        }
        let sum = 0;
        for (let j = 0; j < Lk; j++) sum += (s[j] = Math.exp(s[j] - max));
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j < Lk; j++) acc += s[j] * v[(g * Lk + j) * D + h * hd + d];
          out[qo + d] = acc / sum;
        }
      }
  return out;
}

/** T5LayerNorm: x / sqrt(mean(x^2) + eps) * weight, float64. */
function rmsNormReference(a: A): Float32Array {
  const { rows, D, eps, x, weight } = a;
  const y = new Float32Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let i = 0; i < D; i++) sq += x[r * D + i] ** 2;
    const rstd = 1 / Math.sqrt(sq / D + eps);
    for (let i = 0; i < D; i++) y[r * D + i] = x[r * D + i] * rstd * (weight ? weight[i] : 1);
  }
  return y;
}

/** Hunyuan-DiT's apply_rotary_emb in float32: x * cos + rot(x) * sin, rot(x)[2i] = -x[2i+1], rot(x)[2i+1] = x[2i]. */
function rope2dReference(a: A): Float32Array {
  const { G, L, H, hd, x, cos, sin } = a;
  const y = new Float32Array(G * L * H * hd);
  for (let e = 0; e < y.length; e += 2) {
    const t = (Math.floor(e / (H * hd)) % L) * hd + (e % hd);
    y[e] = f32(f32(x[e] * cos[t]) + f32(-x[e + 1] * sin[t]));
    y[e + 1] = f32(f32(x[e + 1] * cos[t + 1]) + f32(x[e] * sin[t + 1]));
  }
  return y;
}

const gatedGeluReference = (a: A) => Float32Array.from(a.a as Float32Array, (v, i) => gelu(v) * a.b[i]);
const geluErfReference = (a: A) => Float32Array.from(a.x as Float32Array, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));

/** erf in float64: its Taylor series for |x| < 2.5, else 1 - erfc from erfc's continued fraction (|error| < 1e-13). */
export function erf(x: number): number {
  const z = Math.abs(x);
  if (z < 2.5) {
    let term = z, sum = z;
    for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let cf = z; // erfc(z) = exp(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...))))
  for (let n = 80; n >= 1; n--) cf = z + n / 2 / cf;
  return Math.sign(x) * (1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / cf);
}

/** transformers' T5Attention._relative_position_bucket for one offset rel = key - query, torch's float32 math. */
export function t5RelativePositionBucket(rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let bucket = 0, n = numBuckets;
  if (bidirectional) {
    n = Math.floor(n / 2);
    bucket += rel > 0 ? n : 0;
    rel = Math.abs(rel);
  } else {
    rel = -Math.min(rel, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rel < maxExact) return bucket + rel;
  // log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact), each in float32
  const logRatio = f32(Math.log(f32(f32(rel) / maxExact)));
  const large = maxExact + Math.trunc(f32(f32(logRatio / f32(Math.log(maxDistance / maxExact))) * (n - maxExact)));
  return bucket + Math.min(large, n - 1);
}

/** T5Attention.compute_bias: (1, H, qLen, kLen) = table[bucket(j - i), h]. */
function relativePositionBiasReference(a: A): Float32Array {
  const { qLen, kLen, H, numBuckets, maxDistance, bidirectional, table } = a;
  const out = new Float32Array(H * qLen * kLen);
  for (let i = 0; i < qLen; i++)
    for (let j = 0; j < kLen; j++) {
      const b = t5RelativePositionBucket(j - i, !!bidirectional, numBuckets, maxDistance);
      for (let h = 0; h < H; h++) out[(h * qLen + i) * kLen + j] = table[b * H + h];
    }
  return out;
}

/**
 * group_norm with frames: videos of F consecutive rows of (N, C, HW) as the 5-D (N / F, C, F, HW) tensor torch
 * normalises (statistics over (C / groups) * F * HW values), through the plain GroupNorm reference.
 */
function groupNormFramesReference(a: A): Float32Array {
  const { B: N, C, H, W, groups, silu, frames: F, eps, x, gamma, beta } = a, HW = H * W, V = N / F;
  const at5 = (v: number, c: number, f: number) => ((v * C + c) * F + f) * HW, at4 = (v: number, c: number, f: number) => ((v * F + f) * C + c) * HW;
  const x5 = new Float64Array(x.length);
  for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) for (let f = 0; f < F; f++) for (let p = 0; p < HW; p++) x5[at5(v, c, f) + p] = x[at4(v, c, f) + p];
  const y5 = groupNorm(x5, V, C, F * HW, groups, eps, gamma, beta, !!silu);
  const y = new Float32Array(x.length);
  for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) for (let f = 0; f < F; f++) for (let p = 0; p < HW; p++) y[at4(v, c, f) + p] = y5[at5(v, c, f) + p];
  return y;
}

/** Conv3d (kt, 1, 1), padding (kt / 2, 0, 0) on each video of F consecutive rows of (N, Cin, HW), in float64. */
function temporalConvReference(a: A): Float32Array {
  const { N, F, Cin, Cout, H, W, kt, x, w, bias } = a, HW = H * W, half = (kt - 1) / 2;
  const y = new Float32Array(N * Cout * HW);
  for (let n = 0; n < N; n++) {
    const f = n % F;
    for (let o = 0; o < Cout; o++)
      for (let p = 0; p < HW; p++) {
        let s = bias[o];
        for (let i = 0; i < Cin; i++)
          for (let k = 0; k < kt; k++) {
            const src = f + k - half;
            if (src >= 0 && src < F) s += w[(o * Cin + i) * kt + k] * x[((n - f + src) * Cin + i) * HW + p];
          }
        y[(n * Cout + o) * HW + p] = s;
      }
  }
  return y;
}

/** float32 values rounded to the nearest float16 (the weights / activations of a float16 GEMM). */
export function roundF16(x: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i], a = Math.abs(v);
    if (a === 0 || !Number.isFinite(v)) { out[i] = v; continue; }
    const ulp = 2 ** (Math.max(Math.floor(Math.log2(a)), -14) - 10); // subnormals below 2^-14
    out[i] = Math.round(v / ulp) * ulp;
  }
  return out;
}

type A = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface InputSpec { data: Float32Array | Int32Array; shape: number[]; weight?: 1; act?: 1 }
/** The generic runOp spec of a case (test/hooks/backend_ops.cc): its inputs with shapes, its parameters by field name. */
export interface OpSpec { params: Record<string, number>; inputs: Record<string, InputSpec>; out?: 'f32' | 'act' }

/** The op's inputs, shapes and parameters from a case's arguments. */
export function opSpec(op: string, a: A): OpSpec {
  const t = (data: Float32Array | Int32Array, shape: number[], extra: Partial<InputSpec> = {}): InputSpec => ({ data, shape, ...extra });
  const opt = (data: Float32Array | undefined, shape: number[]) => (data ? t(data, shape) : undefined) as InputSpec;
  const mod = () => t(a.mod, [a.G / a.repeat, a.chunks * a.D]);
  switch (op) {
    case 'linear':
      return { params: { act: a.gelu ? 1 : 0 }, inputs: { x: t(a.x, [a.M, a.K]), w: t(a.w, [a.N, a.K], { weight: 1 }), bias: opt(a.bias, [a.N]) } };
    case 'linear_gate_residual':
      return { params: { repeat: a.repeat, gateChunk: a.gateChunk }, inputs: { x: t(a.x, [a.G, a.N, a.K]), w: t(a.w, [a.D, a.K], { weight: 1 }), bias: opt(a.bias, [a.D]), mod: mod(), h: t(a.h, [a.G, a.N, a.D]) } };
    case 'layer_norm':
      return { params: { eps: a.eps }, inputs: { x: t(a.x, [a.rows, a.D]), gamma: opt(a.gamma, [a.D]), beta: opt(a.beta, [a.D]) } };
    case 'layer_norm_concat':
      return { params: { eps: a.eps }, inputs: { a: t(a.a, [a.rows, a.D]), b: t(a.b, [a.rows, a.D]), gamma: t(a.gamma, [2 * a.D]), beta: t(a.beta, [2 * a.D]) } };
    case 'layer_norm_modulate':
      return { params: { eps: a.eps, repeat: a.repeat, shiftChunk: a.shiftChunk, scaleChunk: a.scaleChunk }, inputs: { x: t(a.x, [a.G, a.N, a.D]), mod: mod() } };
    case 'silu': case 'copy':
      return { params: {}, inputs: { x: t(a.x, [a.n]) } };
    case 'add':
      return { params: {}, inputs: { x: t(a.x, [a.n]), y: t(a.y, [a.n]) } };
    case 'add_broadcast_rows':
      return { params: {}, inputs: { x: t(a.x, [a.G, a.N, a.D]), e: t(a.e, [a.N, a.D]) } };
    case 'attention':
      return { params: { heads: a.H }, inputs: { qkv: t(a.qkv, [a.G, a.N, 3 * a.H * a.hd], a.act ? { act: 1 } : {}) }, out: a.act ? 'act' : 'f32' };
    case 'patch_embed':
      return { params: {}, inputs: { x: t(a.x, [a.B, a.C, a.H, a.W]), w: t(a.w, [a.D, a.C, a.p, a.p]), bias: t(a.bias, [a.D]) } };
    case 'timestep_frequencies':
      return { params: { dim: a.dim }, inputs: { t: t(a.t, [a.B]) } };
    case 'embedding':
      return { params: {}, inputs: { table: t(a.table, [a.rows, a.D]), ids: t(a.labels, [a.B]) } };
    case 'unpatchify':
      if (a.Gw !== undefined) return { params: { patch: a.p, gridW: a.Gw }, inputs: { tokens: t(a.tokens, [a.B, a.Gh * a.Gw, a.p * a.p * a.C]) } };
      return { params: { patch: a.p }, inputs: { tokens: t(a.tokens, [a.B, a.G * a.G, a.p * a.p * a.C]) } };
    case 'swap_token_axes':
      return { params: { batch: a.B }, inputs: { x: t(a.x, [a.B * a.A1, a.A2, a.D]) } };
    case 'cfg_guidance':
      return { params: { frames: a.F, channels: a.C, guided: a.guided, scale: a.scale, uncond_first: a.uncondFirst }, inputs: { raw: t(a.raw, [a.B, a.F * a.C * a.HW]) } };
    case 'sampler_update': {
      if (a.update.kind === 'ddim-diffusers' || a.update.kind === 'ddpm-diffusers') {
        const u = a.update, ddim = u.kind === 'ddim-diffusers';
        const params: Record<string, number> = {
          outer: a.outer, channels: a.C, kind: ddim ? 2 : 3, sqrt_ac: u.sqrtAlphaT, sqrt_1m_ac: u.sqrtOneMinusAlphaT, clip_range: u.clipRange,
          v_prediction: u.predictionType === 'v_prediction' ? 1 : 0,
          ...(ddim ? { sqrt_ac_prev: u.sqrtAlphaPrev, sqrt_1m_ac_prev: u.sqrtOneMinusAlphaPrev }
            : { coef1: u.predOriginalSampleCoeff, coef2: u.currentSampleCoeff, noise_scale: u.stdDev, last: u.addNoise ? 0 : 1 }),
        };
        const noise = !ddim && u.addNoise ? t(a.noise, [a.outer, a.C, a.inner]) : (undefined as unknown as InputSpec);
        return { params, inputs: { model_out: t(a.out, [a.outer, a.doubled ? 2 * a.C : a.C, a.inner]), noise, x: t(a.x, [a.outer, a.C, a.inner]) } };
      }
      const u = a.update, ddim = u.kind === 'ddim';
      const params: Record<string, number> = {
        outer: a.outer, channels: a.C, kind: ddim ? 0 : 1, sqrt_recip_ac: u.sqrtRecipAlphasCumprod, sqrt_recipm1_ac: u.sqrtRecipm1AlphasCumprod,
        ...(ddim ? { sqrt_ac_prev: u.sqrtAlphasCumprodPrev, dir_coef: u.dirCoef, noise_scale: u.noiseScale }
          : { coef1: u.meanCoef1, coef2: u.meanCoef2, min_log: u.minLog, max_log: u.maxLog, fixed_log: u.fixedLog, learned_range: u.learnedRange ? 1 : 0, last: u.last ? 1 : 0 }),
      };
      const needsNoise = ddim ? u.noiseScale !== 0 : !u.last;
      return { params, inputs: { model_out: t(a.out, [a.outer, a.doubled ? 2 * a.C : a.C, a.inner]), noise: needsNoise ? t(a.noise, [a.outer, a.C, a.inner]) : (undefined as unknown as InputSpec), x: t(a.x, [a.outer, a.C, a.inner]) } };
    }
    case 'group_norm':
      return { params: { groups: a.groups, eps: a.eps, silu: a.silu ? 1 : 0, frames: a.frames ?? 1 }, inputs: { x: t(a.x, [a.B, a.C, a.H, a.W]), gamma: t(a.gamma, [a.C]), beta: t(a.beta, [a.C]) } };
    case 'conv2d':
      return { params: { k: a.k }, inputs: { x: t(a.x, [a.B, a.Cin, a.H, a.W]), w: t(a.w, [a.Cout, a.Cin * a.k * a.k], { weight: 1 }), bias: t(a.bias, [a.Cout]) } };
    case 'upsample_nearest2x':
      return { params: {}, inputs: { x: t(a.x, [a.B, a.C, a.H, a.W]) } };
    case 'temporal_conv':
      return { params: { frames: a.F }, inputs: { x: t(a.x, [a.N, a.Cin, a.H, a.W]), w: t(a.w, [a.Cout, a.Cin, a.kt, 1, 1]), bias: t(a.bias, [a.Cout]) } };
    case 'blend':
      return { params: { wa: a.wa, wb: a.wb }, inputs: { a: t(a.a, [a.n]), b: t(a.b, [a.n]) } };
    case 'slice_columns':
      return { params: { offset: a.offset, width: a.width }, inputs: { x: t(a.x, [a.R, a.W]) } };
    case 'add_group_rows':
      return { params: {}, inputs: { x: t(a.x, [a.G, a.N, a.D]), e: t(a.e, [a.G, a.D]) } };
    case 'select_rows':
      return { params: {}, inputs: { x: t(a.x, [a.B, a.L, a.D]), keep: t(a.keep, [a.B, a.L]), table: t(a.table, [a.L, a.D]) } };
    case 'mean_tokens':
      return { params: {}, inputs: { x: t(a.x, [a.G, a.N, a.D]) } };
    case 'concat_columns':
      return { params: {}, inputs: { a: t(a.a, [a.R, a.A]), b: t(a.b, [a.R, a.Bc]) } };
    case 'sdpa': {
      const act = a.act ? { act: 1 as const } : {}, D = a.H * a.hd;
      return {
        params: { heads: a.H, scale: a.scale },
        inputs: { q: t(a.q, [a.G, a.Lq, D], act), k: t(a.k, [a.G, a.Lk, D], act), v: t(a.v, [a.G, a.Lk, D], act),
          bias: opt(a.bias, [...(a.biasShape ?? []), a.Lk]), key_mask: opt(a.keyMask, [a.G, a.Lk]) },
        out: a.act ? 'act' : 'f32',
      };
    }
    case 'rms_norm':
      return { params: { eps: a.eps }, inputs: { x: t(a.x, [a.rows, a.D], a.act ? { act: 1 } : {}), weight: opt(a.weight, [a.D]) }, out: a.act ? 'act' : 'f32' };
    case 'rope_2d':
      return { params: { heads: a.H }, inputs: { x: t(a.x, [a.G, a.L, a.H * a.hd], a.act ? { act: 1 } : {}), cos: t(a.cos, [a.L, a.hd]), sin: t(a.sin, [a.L, a.hd]) }, out: a.act ? 'act' : 'f32' };
    case 'gated_gelu':
      return { params: {}, inputs: { a: t(a.a, a.shape, a.act ? { act: 1 } : {}), b: t(a.b, a.shape, a.act ? { act: 1 } : {}) }, out: a.act ? 'act' : 'f32' };
    case 'gelu_erf':
      return { params: {}, inputs: { x: t(a.x, a.shape, a.act ? { act: 1 } : {}) }, out: a.act ? 'act' : 'f32' };
    case 'relative_position_bias':
      return { params: { qLen: a.qLen, kLen: a.kLen, numBuckets: a.numBuckets, maxDistance: a.maxDistance, bidirectional: a.bidirectional }, inputs: { table: t(a.table, [a.numBuckets, a.H]) } };
    default:
      throw new Error(`opSpec: no spec for op '${op}'`);
  }
}

/** runOp of the test addon on a case's arguments. */
export function runOpCase(backend: string, dtype: string, op: string, args: Record<string, unknown>): Float32Array {
  return testNative().runOp(backend, dtype, op, opSpec(op, args));
}
