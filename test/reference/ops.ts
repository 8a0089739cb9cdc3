// Plain float64 reference implementations of every op, written from the fixture README's math and
// independent of the native code. Slow and obvious on purpose.
export type Arr = ArrayLike<number>;

/** y (M, N) = x (M, K) @ w (N, K)^T + b */
export function linear(x: Arr, M: number, K: number, w: Arr, b: Arr | null, N: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
  return y;
}

export function layerNorm(x: Arr, rows: number, D: number, eps: number, g?: Arr | null, b?: Arr | null): Float64Array {
  const y = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[r * D + i] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) y[r * D + i] = (x[r * D + i] - mean) * rstd * (g ? g[i] : 1) + (b ? b[i] : 0);
  }
  return y;
}

export const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
export const silu = (v: number) => v / (1 + Math.exp(-v));

/** Each value rounded to bfloat16 (round to nearest even), as float32 -> bf16 conversion does. */
export function roundBf16(x: Arr): Float32Array {
  const f = Float32Array.from(x), u = new Uint32Array(f.buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) << 16;
  return f;
}

/**
 * softmax(q k^T / sqrt(hd)) v per (group, head), full score rows; qkv (G, N, 3, H, hd) -> (G, N, H*hd).
 * roundP: the tensor-core kernel's rounding of the unnormalised probabilities before P V (the row sum stays
 * unrounded), for the emulation of the bf16 / fp16 math.
 */
export function attention(qkv: Arr, G: number, N: number, H: number, hd: number, roundP?: (x: Arr) => ArrayLike<number>): Float64Array {
  const D = H * hd;
  const out = new Float64Array(G * N * D);
  const scores = new Float64Array(N);
  for (let g = 0; g < G; g++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < N; i++) {
        let max = -Infinity;
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += qkv[(g * N + i) * 3 * D + h * hd + d] * qkv[(g * N + j) * 3 * D + D + h * hd + d];
          scores[j] = s / Math.sqrt(hd);
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j < N; j++) sum += (scores[j] = Math.exp(scores[j] - max));
        const p = roundP ? roundP(scores) : scores;
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j < N; j++) acc += p[j] * qkv[(g * N + j) * 3 * D + 2 * D + h * hd + d];
          out[(g * N + i) * D + h * hd + d] = acc / sum;
        }
      }
  return out;
}

/** Conv2d(C, D, k=p, s=p) on x (B, C, Hs, Ws), flattened to (B, T, D), token n = r*(Ws/p) + c. */
export function patchEmbed(x: Arr, B: number, C: number, Hs: number, Ws: number, p: number, w: Arr, bias: Arr, D: number): Float64Array {
  const gh = Hs / p, gw = Ws / p, T = gh * gw;
  const out = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++)
    for (let r = 0; r < gh; r++)
      for (let c = 0; c < gw; c++)
        for (let o = 0; o < D; o++) {
          let s = bias[o];
          for (let ch = 0; ch < C; ch++)
            for (let i = 0; i < p; i++)
              for (let j = 0; j < p; j++) s += w[((o * C + ch) * p + i) * p + j] * x[((b * C + ch) * Hs + r * p + i) * Ws + c * p + j];
          out[((b * T) + r * gw + c) * D + o] = s;
        }
  return out;
}

/** E(m, q) = [sin(q w_k), cos(q w_k)], w_k = 10000^(-k/(m/2)) */
export function sincos(m: number, q: number): number[] {
  const half = m / 2;
  const s: number[] = [], c: number[] = [];
  for (let k = 0; k < half; k++) {
    const w = 1 / 10000 ** (k / half);
    s.push(Math.sin(q * w));
    c.push(Math.cos(q * w));
  }
  return [...s, ...c];
}

export function posEmbed2d(D: number, G: number): Float64Array {
  const out = new Float64Array(G * G * D);
  for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) out.set([...sincos(D / 2, c), ...sincos(D / 2, r)], (r * G + c) * D);
  return out;
}

export function posEmbed1d(D: number, F: number): Float64Array {
  const out = new Float64Array(F * D);
  for (let f = 0; f < F; f++) out.set(sincos(D, f), f * D);
  return out;
}

/** [cos(t f_i), sin(t f_i)], f_i = exp(-ln(10000) i / half) */
export function timestepFrequencies(t: Arr, dim: number): Float64Array {
  const half = Math.floor(dim / 2);
  const out = new Float64Array(t.length * dim);
  for (let b = 0; b < t.length; b++)
    for (let i = 0; i < half; i++) {
      const f = Math.exp((-Math.log(10000) * i) / half);
      out[b * dim + i] = Math.cos(t[b] * f);
      out[b * dim + half + i] = Math.sin(t[b] * f);
    }
  return out;
}

/** (B, G*G, p*p*C) -> (B, C, G*p, G*p), feature (pi*p + pj)*C + ch */
export function unpatchify(tok: Arr, B: number, G: number, p: number, C: number): Float64Array {
  const S = G * p;
  const out = new Float64Array(B * C * S * S);
  for (let b = 0; b < B; b++)
    for (let gr = 0; gr < G; gr++)
      for (let gc = 0; gc < G; gc++)
        for (let i = 0; i < p; i++)
          for (let j = 0; j < p; j++)
            for (let ch = 0; ch < C; ch++)
              out[((b * C + ch) * S + gr * p + i) * S + gc * p + j] = tok[((b * G * G + gr * G + gc) * p * p + i * p + j) * C + ch];
  return out;
}

/** (B, A1, A2, D) -> (B, A2, A1, D) */
export function swapAxes(x: Arr, B: number, A1: number, A2: number, D: number): Float64Array {
  const y = new Float64Array(B * A1 * A2 * D);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < A1; i++)
      for (let j = 0; j < A2; j++)
        for (let d = 0; d < D; d++) y[((b * A2 + j) * A1 + i) * D + d] = x[((b * A1 + i) * A2 + j) * D + d];
  return y;
}

/** Conv2d, stride 1, zero padding (k-1)/2: x (B, Cin, H, W), w (Cout, Cin, k, k). */
export function conv2d(x: Arr, B: number, Cin: number, H: number, W: number, w: Arr, bias: Arr, Cout: number, k: number): Float64Array {
  const pad = (k - 1) / 2;
  const y = new Float64Array(B * Cout * H * W);
  for (let b = 0; b < B; b++)
    for (let co = 0; co < Cout; co++)
      for (let oy = 0; oy < H; oy++)
        for (let ox = 0; ox < W; ox++) {
          let s = bias[co];
          for (let ci = 0; ci < Cin; ci++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const iy = oy + ky - pad, ix = ox + kx - pad;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += w[((co * Cin + ci) * k + ky) * k + kx] * x[((b * Cin + ci) * H + iy) * W + ix];
              }
          y[((b * Cout + co) * H + oy) * W + ox] = s;
        }
  return y;
}

/** GroupNorm over (B, C, HW), optional SiLU after. */
export function groupNorm(x: Arr, B: number, C: number, HW: number, G: number, eps: number, g: Arr, beta: Arr, applySilu = false): Float64Array {
  const y = new Float64Array(B * C * HW), cg = C / G;
  for (let b = 0; b < B; b++)
    for (let gi = 0; gi < G; gi++) {
      const base = (b * C + gi * cg) * HW, n = cg * HW;
      let mean = 0;
      for (let i = 0; i < n; i++) mean += x[base + i];
      mean /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (x[base + i] - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / n + eps);
      for (let c = 0; c < cg; c++)
        for (let p = 0; p < HW; p++) {
          const o = (x[base + c * HW + p] - mean) * rstd * g[gi * cg + c] + beta[gi * cg + c];
          y[base + c * HW + p] = applySilu ? silu(o) : o;
        }
    }
  return y;
}
