// Float64 reference forwards of the T5 v1.1 encoder and BERT (the math of test/fixtures/*-encoder-tiny/README.md),
// independent of the native code. `round` emulates low-precision weights the way the native backends use them:
// every linear layer's weight and float32 input (its GEMM operand) rounded to that type, accumulation and all
// other math in float64; T5's `wo` is left unrounded with keepWoF32 (transformers' _keep_in_fp32_modules under
// float16). test/text-encoders.test.ts checks these against the fixtures; the bf16/fp16 bounds of
// test/cuda-text-encoders.test.ts and the float16 `wo` numbers of docs/engine.md come from them.
type Round = (x: Float32Array) => Float32Array;
type Weights = Record<string, Float32Array>;

const F32_MIN = -3.4028234663852886e38;

export interface ReferenceOptions {
  round?: Round;
  /** T5: `wo` in float32 (not rounded) under `round`. */
  keepWoF32?: boolean;
}

export interface ReferenceResult {
  /** last_hidden_state (B, L, D). */
  out: Float64Array;
  /** hidden_states as transformers returns them: [embedding, layer outputs...] (T5: the last one final-normed). */
  hidden: Float64Array[];
}

/** y (M, N) = x (M, K) @ w (N, K)^T (+ bias), float64 accumulation; x and w rounded when `round` is given. */
function linear(x: Float64Array, M: number, K: number, w: Float32Array, N: number, bias?: Float32Array, round?: Round): Float64Array {
  const xr = round ? round(Float32Array.from(x)) : x;
  const wr = round ? round(w) : w;
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += xr[m * K + k] * wr[n * K + k];
      y[m * N + n] = s;
    }
  }
  return y;
}

function rmsNorm(x: Float64Array, D: number, w: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let sq = 0;
    for (let i = 0; i < D; i++) sq += x[r * D + i] ** 2;
    const inv = 1 / Math.sqrt(sq / D + eps);
    for (let i = 0; i < D; i++) y[r * D + i] = w[i] * x[r * D + i] * inv;
  }
  return y;
}

function layerNorm(x: Float64Array, D: number, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let mean = 0, v = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i];
    mean /= D;
    for (let i = 0; i < D; i++) v += (x[r * D + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) y[r * D + i] = (x[r * D + i] - mean) * inv * w[i] + b[i];
  }
  return y;
}

/**
 * Multi-head attention: q, k, v (B, L, H*hd); scores * scale + bias[h, i, j] (or 0), padded keys (mask 0) at
 * float32's finfo.min as in float32 (every masked score rounds to it: a fully masked row is uniform).
 */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, B: number, L: number, H: number, hd: number, scale: number,
  bias: Float64Array | null, mask: number[] | null): Float64Array {
  const E = H * hd;
  const out = new Float64Array(B * L * E);
  const s = new Float64Array(L);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L; i++) {
        let max = -Infinity;
        for (let j = 0; j < L; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[(b * L + i) * E + h * hd + d] * k[(b * L + j) * E + h * hd + d];
          s[j] = mask && mask[b * L + j] === 0 ? F32_MIN : dot * scale + (bias ? bias[(h * L + i) * L + j] : 0);
          max = Math.max(max, s[j]);
        }
        let sum = 0;
        for (let j = 0; j < L; j++) sum += (s[j] = Math.exp(s[j] - max));
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j < L; j++) acc += s[j] * v[(b * L + j) * E + h * hd + d];
          out[(b * L + i) * E + h * hd + d] = acc / sum;
        }
      }
    }
  }
  return out;
}

function addInto(a: Float64Array, b: Float64Array): Float64Array {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
  return a;
}

/** transformers' _relative_position_bucket (bidirectional), in torch's float32 arithmetic. */
export function t5Bucket(rel: number, buckets: number, maxDistance: number): number {
  const n = buckets / 2;
  let bucket = rel > 0 ? n : 0;
  const a = Math.abs(rel);
  const maxExact = Math.floor(n / 2);
  if (a < maxExact) return bucket + a;
  const f = Math.fround;
  const large = maxExact + Math.trunc(f(f(f(Math.log(f(a / maxExact))) / f(Math.log(maxDistance / maxExact))) * (n - maxExact)));
  bucket += Math.min(large, n - 1);
  return bucket;
}

export interface T5Config {
  d_model: number; d_kv: number; num_heads: number; d_ff: number; num_layers: number; layer_norm_epsilon: number;
  relative_attention_num_buckets: number; relative_attention_max_distance: number;
}

export function referenceT5(c: T5Config, w: Weights, ids: number[], mask: number[] | null, B: number, L: number, opts: ReferenceOptions = {}): ReferenceResult {
  const D = c.d_model, H = c.num_heads, hd = c.d_kv, E = H * hd, F = c.d_ff, M = B * L, eps = c.layer_norm_epsilon;
  const shared = w['shared.weight'] ?? w['encoder.embed_tokens.weight'];
  let h = new Float64Array(M * D);
  for (let t = 0; t < M; t++) for (let i = 0; i < D; i++) h[t * D + i] = shared[ids[t] * D + i];
  const hidden = [h.slice()];
  const table = w['encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'];
  const bias = new Float64Array(H * L * L);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      const bucket = t5Bucket(j - i, c.relative_attention_num_buckets, c.relative_attention_max_distance);
      for (let hh = 0; hh < H; hh++) bias[(hh * L + i) * L + j] = table[bucket * H + hh];
    }
  }
  const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  for (let l = 0; l < c.num_layers; l++) {
    const p = `encoder.block.${l}.layer.`;
    const n = rmsNorm(h, D, w[`${p}0.layer_norm.weight`], eps);
    const lin = (x: Float64Array, name: string, N: number, K: number, keep = false) => linear(x, M, K, w[name], N, undefined, keep ? undefined : opts.round);
    const q = lin(n, `${p}0.SelfAttention.q.weight`, E, D), k = lin(n, `${p}0.SelfAttention.k.weight`, E, D), v = lin(n, `${p}0.SelfAttention.v.weight`, E, D);
    h = addInto(h, lin(attention(q, k, v, B, L, H, hd, 1, bias, mask), `${p}0.SelfAttention.o.weight`, D, E));
    const n2 = rmsNorm(h, D, w[`${p}1.layer_norm.weight`], eps);
    const a = lin(n2, `${p}1.DenseReluDense.wi_0.weight`, F, D), g = lin(n2, `${p}1.DenseReluDense.wi_1.weight`, F, D);
    for (let i = 0; i < a.length; i++) a[i] = gelu(a[i]) * g[i];
    h = addInto(h, lin(a, `${p}1.DenseReluDense.wo.weight`, D, F, opts.keepWoF32 === true));
    if (l < c.num_layers - 1) hidden.push(h.slice());
  }
  const out = rmsNorm(h, D, w['encoder.final_layer_norm.weight'], eps);
  hidden.push(out);
  return { out, hidden };
}

export interface BertConfig {
  hidden_size: number; num_attention_heads: number; intermediate_size: number; num_hidden_layers: number; layer_norm_eps: number;
}

/** erf to ~1e-15: its Maclaurin series below 3, the continued fraction of erfc above. */
export function erf(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a < 3) {
    let term = a, sum = a;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= -a * a / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = a;
    for (let n = 60; n >= 1; n--) f = a + (n / 2) / f; // erfc(a) = exp(-a^2) / sqrt(pi) / (a + 1/2 / (a + 1 / (a + 3/2 / ...)))
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

export function referenceBert(c: BertConfig, w: Weights, ids: number[], mask: number[] | null, B: number, L: number, opts: ReferenceOptions = {}): ReferenceResult {
  const D = c.hidden_size, H = c.num_attention_heads, hd = D / H, I = c.intermediate_size, M = B * L, eps = c.layer_norm_eps;
  const word = w['embeddings.word_embeddings.weight'], pos = w['embeddings.position_embeddings.weight'], tt = w['embeddings.token_type_embeddings.weight'];
  let e = new Float64Array(M * D);
  for (let t = 0; t < M; t++) for (let i = 0; i < D; i++) e[t * D + i] = word[ids[t] * D + i] + tt[i] + pos[(t % L) * D + i];
  let h = layerNorm(e, D, w['embeddings.LayerNorm.weight'], w['embeddings.LayerNorm.bias'], eps);
  const hidden = [h.slice()];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}.`;
    const lin = (x: Float64Array, name: string, N: number, K: number) => linear(x, M, K, w[`${name}.weight`], N, w[`${name}.bias`], opts.round);
    const q = lin(h, `${p}attention.self.query`, D, D), k = lin(h, `${p}attention.self.key`, D, D), v = lin(h, `${p}attention.self.value`, D, D);
    const o = addInto(lin(attention(q, k, v, B, L, H, hd, 1 / Math.sqrt(hd), null, mask), `${p}attention.output.dense`, D, D), h);
    h = layerNorm(o, D, w[`${p}attention.output.LayerNorm.weight`], w[`${p}attention.output.LayerNorm.bias`], eps);
    const f = lin(h, `${p}intermediate.dense`, I, D);
    for (let i = 0; i < f.length; i++) f[i] = 0.5 * f[i] * (1 + erf(f[i] / Math.SQRT2));
    h = layerNorm(addInto(lin(f, `${p}output.dense`, D, I), h), D, w[`${p}output.LayerNorm.weight`], w[`${p}output.LayerNorm.bias`], eps);
    hidden.push(h.slice());
  }
  return { out: h, hidden };
}
