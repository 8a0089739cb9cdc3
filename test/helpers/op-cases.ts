// The Backend-op cases shared by test/backend-ops.test.ts (the runOp hook of the test addon on CPU) and test/cuda.test.ts
// (every CUDA op against its CPU twin): awkward sizes (97, 257, 1025 tokens; head dims 16, 40, 64, 72, 97,
// 128, 512; K not a multiple of 8 or of the tiles), seeded inputs, never zeros.
import { createSampler } from '../../lib/samplers.js';
import { randn } from './compare.js';
import { testNative } from './test-native.js';

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
}

/** The sampler a sampler_update case reproduces (op-reference.ts runs its TypeScript step()). */
export interface SamplerSpec {
  name: 'ddim' | 'ddpm';
  steps: number;
  index: number;
  eta?: number;
  variance?: 'learned_range' | 'fixed_large' | 'fixed_small';
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
  add('cfg_guidance', 'B=4 F=3 C=8 HW=20 guided=4', { B: 4, F: 3, C: 8, HW: 20, guided: 4, scale: 4, raw: r(4 * 3 * 8 * 20) });
  add('cfg_guidance', 'B=2 F=1 C=3 HW=17 guided=3', { B: 2, F: 1, C: 3, HW: 17, guided: 3, scale: 1.5, raw: r(2 * 3 * 17) });
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
  for (const [B, C, H, W, groups, silu] of [[2, 64, 9, 7, 32, 1], [1, 32, 33, 31, 8, 0]]) {
    add('group_norm', `B=${B} C=${C} ${H}x${W} groups=${groups} silu=${silu}`,
      { B, C, H, W, groups, silu, eps: 1e-6, x: r(B * C * H * W, 2).map((v) => v + 1), gamma: r(C), beta: r(C) });
  }
  for (const [B, Cin, H, W, Cout, k] of [[2, 4, 9, 7, 33, 3], [1, 64, 16, 16, 64, 3], [1, 5, 10, 3, 7, 1], [1, 130, 5, 6, 129, 3]]) {
    add('conv2d', `B=${B} Cin=${Cin} ${H}x${W} Cout=${Cout} k=${k}`,
      { B, Cin, H, W, Cout, k, x: r(B * Cin * H * W), w: r(Cout * Cin * k * k, 1 / Math.sqrt(Cin * k * k)), bias: r(Cout) }, true);
  }
  add('upsample_nearest2x', 'B=2 C=3 5x7', { B: 2, C: 3, H: 5, W: 7, x: r(2 * 3 * 5 * 7) });
  return cases;
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
      return { params: { patch: a.p }, inputs: { tokens: t(a.tokens, [a.B, a.G * a.G, a.p * a.p * a.C]) } };
    case 'swap_token_axes':
      return { params: { batch: a.B }, inputs: { x: t(a.x, [a.B * a.A1, a.A2, a.D]) } };
    case 'cfg_guidance':
      return { params: { frames: a.F, channels: a.C, guided: a.guided, scale: a.scale }, inputs: { raw: t(a.raw, [a.B, a.F * a.C * a.HW]) } };
    case 'sampler_update': {
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
      return { params: { groups: a.groups, eps: a.eps, silu: a.silu ? 1 : 0 }, inputs: { x: t(a.x, [a.B, a.C, a.H, a.W]), gamma: t(a.gamma, [a.C]), beta: t(a.beta, [a.C]) } };
    case 'conv2d':
      return { params: { k: a.k }, inputs: { x: t(a.x, [a.B, a.Cin, a.H, a.W]), w: t(a.w, [a.Cout, a.Cin * a.k * a.k], { weight: 1 }), bias: t(a.bias, [a.Cout]) } };
    case 'upsample_nearest2x':
      return { params: {}, inputs: { x: t(a.x, [a.B, a.C, a.H, a.W]) } };
    default:
      throw new Error(`opSpec: no spec for op '${op}'`);
  }
}

/** runOp of the test addon on a case's arguments. */
export function runOpCase(backend: string, dtype: string, op: string, args: Record<string, unknown>): Float32Array {
  return testNative().runOp(backend, dtype, op, opSpec(op, args));
}
