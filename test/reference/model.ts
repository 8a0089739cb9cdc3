// A float64 reference forward of DiT / DiT-skip / Latte / Latte-skip built from reference/ops.ts,
// following the fixture README step by step. Used to check configs unlike the fixtures'.
import type { ModelConfig } from '../../lib/config.js';
import * as op from './ops.js';

export type Weights = Record<string, Float32Array>;

// lowPrecision (e.g. roundBf16): the CUDA backend's bfloat16 / float16 math, emulated - every GEMM rounds its
// A operand and its weight (prepare_linear's weights only), and the token activations it keeps in that type
// (docs/cuda.md: patch tokens, normed, qkv, attention output, MLP hidden, residual stream, skip-norm output,
// final tokens) are rounded where they are stored. Conditioning and adaLN modulation stay unrounded. Attention
// at head dims the tensor-core kernel takes (a multiple of 8, <= 128) also rounds its probabilities before P V.
export function referenceForward(c: ModelConfig, w: Weights, x: Float32Array, t: number[], y: number[] | null,
                                 lowPrecision?: (a: op.Arr) => ArrayLike<number>): Float64Array {
  const B = t.length, D = c.hidden_size, p = c.patch_size, G = c.input_size / p, T = G * G;
  const Cout = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const F = c.family === 'latte' ? c.num_frames : 1;
  const Hm = Math.floor(D * c.mlp_ratio);
  const rounded = new Map<string, op.Arr>();
  const weight = (name: string) => {
    if (!lowPrecision) return w[name + '.weight'];
    if (!rounded.has(name)) rounded.set(name, lowPrecision(w[name + '.weight']));
    return rounded.get(name)!;
  };
  const lin = (v: op.Arr, rows: number, name: string, out: number, inp: number) =>
    op.linear(lowPrecision ? lowPrecision(v) : v, rows, inp, weight(name), w[name + '.bias'], out);
  // a token activation as stored: rounded in place to the activation type
  const st = (a: Float64Array) => {
    if (lowPrecision) a.set(lowPrecision(a));
    return a;
  };

  // conditioning
  const tf = op.timestepFrequencies(t, 256);
  const cvec = lin(lin(tf, B, 't_embedder.mlp.0', D, 256).map(op.silu), B, 't_embedder.mlp.2', D, D);
  if (y) for (let b = 0; b < B; b++) for (let i = 0; i < D; i++) cvec[b * D + i] += w['y_embedder.embedding_table.weight'][y[b] * D + i];
  const siluC = cvec.map(op.silu);

  // tokens ((b f), T, D)
  let h = st(op.patchEmbed(x, B * F, c.in_channels, c.input_size, c.input_size, p, w['x_embedder.proj.weight'], w['x_embedder.proj.bias'], D));
  for (let r = 0; r < B * F * T; r++) for (let i = 0; i < D; i++) h[r * D + i] += w.pos_embed[(r % T) * D + i];
  st(h);

  // block on h (groups, N, D): group g uses conditioning row floor(g / repeat)
  const block = (i: number, hin: Float64Array, groups: number, N: number, repeat: number) => {
    const pre = `blocks.${i}`;
    const mod = lin(siluC, B, pre + '.adaLN_modulation.1', 6 * D, D);
    const chunk = (g: number, k: number, d: number) => mod[Math.floor(g / repeat) * 6 * D + k * D + d];
    const rows = groups * N;
    const modulated = (k: number) => {
      const n = op.layerNorm(hin, rows, D, 1e-6);
      for (let r = 0; r < rows; r++) for (let d = 0; d < D; d++) n[r * D + d] = n[r * D + d] * (1 + chunk(Math.floor(r / N), k + 1, d)) + chunk(Math.floor(r / N), k, d);
      return st(n);
    };
    const qkv = st(lin(modulated(0), rows, pre + '.attn.qkv', 3 * D, D));
    const hd = D / c.num_heads;
    const roundP = lowPrecision && hd % 8 === 0 && hd <= 128 ? lowPrecision : undefined;
    const a = lin(st(op.attention(qkv, groups, N, c.num_heads, hd, roundP)), rows, pre + '.attn.proj', D, D);
    for (let r = 0; r < rows; r++) for (let d = 0; d < D; d++) hin[r * D + d] += chunk(Math.floor(r / N), 2, d) * a[r * D + d];
    st(hin);
    const m = lin(st(lin(modulated(3), rows, pre + '.mlp.fc1', Hm, D).map(op.gelu)), rows, pre + '.mlp.fc2', D, Hm);
    for (let r = 0; r < rows; r++) for (let d = 0; d < D; d++) hin[r * D + d] += chunk(Math.floor(r / N), 5, d) * m[r * D + d];
    st(hin);
  };
  const fuse = (j: number, hin: Float64Array, skip: Float64Array, rows: number) => {
    const cat = new Float64Array(rows * 2 * D);
    for (let r = 0; r < rows; r++) {
      cat.set(hin.subarray(r * D, (r + 1) * D), r * 2 * D);
      cat.set(skip.subarray(r * D, (r + 1) * D), r * 2 * D + D);
    }
    const n = st(op.layerNorm(cat, rows, 2 * D, 1e-6, w[`skip_norms.${j}.weight`], w[`skip_norms.${j}.bias`]));
    return st(lin(n, rows, `skip_linears.${j}.linear`, D, 2 * D));
  };

  const skips: Float64Array[] = [];
  const half = Math.floor(c.depth / 2);
  if (c.family === 'dit') {
    for (let i = 0; i < c.depth; i++) {
      if (c.skip && i >= half) h = fuse(i - half, h, skips.pop()!, B * T);
      block(i, h, B, T, 1);
      if (c.skip && i < half) skips.push(h.slice());
    }
  } else {
    for (let i = 0; i < c.depth; i += 2) {
      if (c.skip && i >= half) h = fuse(Math.floor((i - half) / 2), h, skips.pop()!, B * F * T);
      block(i, h, B * F, T, F);
      let ht = op.swapAxes(h, B, F, T, D);
      if (i === 0) for (let r = 0; r < B * T * F; r++) for (let d = 0; d < D; d++) ht[r * D + d] += w.temp_embed[(r % F) * D + d];
      if (i === 0) st(ht);
      block(i + 1, ht, B * T, F, T);
      h = op.swapAxes(ht, B, T, F, D);
      if (c.skip && i < half) skips.push(h.slice());
    }
  }

  // final layer
  const fmod = lin(siluC, B, 'final_layer.adaLN_modulation.1', 2 * D, D);
  const rows = B * F * T;
  const n = op.layerNorm(h, rows, D, 1e-6);
  for (let r = 0; r < rows; r++) {
    const cr = Math.floor(r / (F * T));
    for (let d = 0; d < D; d++) n[r * D + d] = n[r * D + d] * (1 + fmod[cr * 2 * D + D + d]) + fmod[cr * 2 * D + d];
  }
  const tok = st(lin(st(n), rows, 'final_layer.linear', p * p * Cout, D));
  return op.unpatchify(tok, B * F, G, p, Cout);
}

/** Random weights with the official names for a config (scaled like the fixture generator). */
export function randomWeights(c: ModelConfig, randn: (n: number, seed: number, scale?: number) => Float32Array): Record<string, { shape: number[]; data: Float32Array }> {
  const D = c.hidden_size, p = c.patch_size, Hm = Math.floor(D * c.mlp_ratio);
  const Cout = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const G = c.input_size / p;
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  let seed = 1000;
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = randn(n, seed++, scale);
    if (offset) for (let i = 0; i < n; i++) data[i] += offset;
    out[name] = { shape, data };
  };
  const linear = (name: string, o: number, i: number, gain = 1) => {
    add(name + '.weight', [o, i], gain / Math.sqrt(i));
    add(name + '.bias', [o], 0.1);
  };
  out.pos_embed = { shape: [1, G * G, D], data: Float32Array.from(posEmbedF64(D, G)) };
  if (c.family === 'latte') out.temp_embed = { shape: [1, c.num_frames, D], data: Float32Array.from(temporalF64(D, c.num_frames)) };
  add('x_embedder.proj.weight', [D, c.in_channels, p, p], 1 / Math.sqrt(c.in_channels * p * p));
  add('x_embedder.proj.bias', [D], 0.1);
  linear('t_embedder.mlp.0', D, 256);
  linear('t_embedder.mlp.2', D, D);
  if (c.num_classes > 0) add('y_embedder.embedding_table.weight', [c.num_classes + (c.class_dropout ? 1 : 0), D], 0.5);
  for (let i = 0; i < c.depth; i++) {
    linear(`blocks.${i}.attn.qkv`, 3 * D, D);
    linear(`blocks.${i}.attn.proj`, D, D);
    linear(`blocks.${i}.mlp.fc1`, Hm, D);
    linear(`blocks.${i}.mlp.fc2`, D, Hm);
    linear(`blocks.${i}.adaLN_modulation.1`, 6 * D, D, 0.5);
  }
  const skips = !c.skip ? 0 : c.family === 'dit' ? c.depth / 2 : c.depth / 4;
  for (let j = 0; j < skips; j++) {
    add(`skip_norms.${j}.weight`, [2 * D], 0.1, 1);
    add(`skip_norms.${j}.bias`, [2 * D], 0.1);
    linear(`skip_linears.${j}.linear`, D, 2 * D);
  }
  linear('final_layer.adaLN_modulation.1', 2 * D, D, 0.5);
  linear('final_layer.linear', p * p * Cout, D);
  return out;
}

const posEmbedF64 = (D: number, G: number) => op.posEmbed2d(D, G);
const temporalF64 = (D: number, F: number) => op.posEmbed1d(D, F);
