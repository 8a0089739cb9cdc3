// Every CPU kernel against the float64 reference of test/reference/ops.ts at awkward sizes
// (97 tokens, head dims 16 and 72, sizes that are not multiples of the SIMD width or the tiles).
import { describe, expect, it } from 'vitest';
import { native } from '../lib/native.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';
import { randn, relErr } from './helpers/compare.js';
import { f32, fixturePath } from './helpers/fixtures.js';
import { readSafetensors } from './helpers/safetensors.js';
import * as ref from './reference/ops.js';

const run = (name: string, args: Record<string, unknown>) => testNative().runKernel(name, args);
const TOL = 2e-6; // float32 kernels vs float64 math, O(1) inputs

describe.skipIf(testAddonSkip)(`kernels${testAddonNote}`, () => {
  it('every kernel is covered by this file', () => {
    expect(testNative().kernelNames().sort()).toEqual(
      ['attention', 'cfg_guidance', 'conv2d', 'embedding', 'gate_residual', 'gelu_tanh', 'gemm_packed', 'group_norm', 'layer_norm', 'layer_norm_concat', 'layer_norm_modulate', 'linear',
        'modulate', 'patch_embed', 'pos_embed_1d', 'pos_embed_2d', 'silu', 'swap_token_axes', 'timestep_frequencies', 'unpatchify',
        'upsample_nearest2x'].sort(),
    );
  });

  for (const [M, K, N] of [[1, 1, 1], [97, 72, 33], [5, 17, 130], [64, 256, 64], [3, 1000, 7]]) {
    it(`linear M=${M} K=${K} N=${N}, with and without bias, with GELU`, () => {
      const x = randn(M * K, 1), w = randn(N * K, 2, 1 / Math.sqrt(K)), b = randn(N, 3);
      expect(relErr(run('linear', { x, w, bias: b, M, K, N }), ref.linear(x, M, K, w, b, N))).toBeLessThan(TOL);
      expect(relErr(run('linear', { x, w, M, K, N }), ref.linear(x, M, K, w, null, N))).toBeLessThan(TOL);
      const g = ref.linear(x, M, K, w, b, N).map(ref.gelu);
      expect(relErr(run('linear', { x, w, bias: b, M, K, N, gelu: 1 }), g)).toBeLessThan(TOL);
    });
  }

  for (const [M, K, N] of [[1, 1, 1], [97, 72, 33], [5, 17, 130], [70, 33, 100], [3, 1000, 7], [9, 1152, 65], [2, 64, 384]]) {
    it(`gemm_packed (packed weight panels, run-time ISA) M=${M} K=${K} N=${N}, bias and GELU`, () => {
      const x = randn(M * K, 40), w = randn(N * K, 41, 1 / Math.sqrt(K)), b = randn(N, 42);
      expect(relErr(run('gemm_packed', { x, w, bias: b, M, K, N }), ref.linear(x, M, K, w, b, N))).toBeLessThan(TOL);
      expect(relErr(run('gemm_packed', { x, w, M, K, N }), ref.linear(x, M, K, w, null, N))).toBeLessThan(TOL);
      expect(relErr(run('gemm_packed', { x, w, bias: b, M, K, N, gelu: 1 }), ref.linear(x, M, K, w, b, N).map(ref.gelu))).toBeLessThan(TOL);
    });
  }

  // The gated-residual epilogue: c += gate[m / gateRows] * (x W^T + b), the adaLN-Zero residual of a block.
  for (const [M, K, N, gateRows] of [[97, 72, 33, 97], [26, 40, 130, 13], [7, 1152, 65, 1], [70, 33, 100, 35]]) {
    it(`gemm_packed gated residual epilogue M=${M} K=${K} N=${N} gate rows ${gateRows}`, () => {
      const x = randn(M * K, 43), w = randn(N * K, 44, 1 / Math.sqrt(K)), b = randn(N, 45);
      const c = randn(M * N, 46), gate = randn(Math.ceil(M / gateRows) * N, 47);
      const lin = ref.linear(x, M, K, w, b, N);
      const expected = lin.map((v, i) => c[i] + gate[Math.floor(Math.floor(i / N) / gateRows) * N + (i % N)] * v);
      expect(relErr(run('gemm_packed', { x, w, bias: b, M, K, N, c, gate, gate_rows: gateRows }), expected)).toBeLessThan(TOL);
    });
  }

  // bf16 weights: compared with float64 math on the same bf16-rounded weights (and, for the AVX-512 BF16 dot
  // product kernel, bf16-rounded activations): what is left is float32 accumulation.
  for (const [M, K, N] of [[1, 1, 1], [97, 72, 33], [5, 17, 130], [9, 1151, 65], [70, 64, 100]]) {
    it(`gemm_packed with bf16 weights (${native().backends()[0].gemmBf16} kernel) M=${M} K=${K} N=${N}, bias, GELU, gate`, () => {
      const x = randn(M * K, 50), w = randn(N * K, 51, 1 / Math.sqrt(K)), b = randn(N, 52);
      const roundsActivations = native().backends()[0].gemmBf16 === 'avx512bf16';
      const xr = roundsActivations ? ref.roundBf16(x) : x, wr = ref.roundBf16(w);
      const BF16_TOL = 1e-5;
      expect(relErr(run('gemm_packed', { x, w, bias: b, M, K, N, bf16: 1 }), ref.linear(xr, M, K, wr, b, N))).toBeLessThan(BF16_TOL);
      const g = ref.linear(xr, M, K, wr, b, N).map(ref.gelu);
      expect(relErr(run('gemm_packed', { x, w, bias: b, M, K, N, bf16: 1, gelu: 1 }), g)).toBeLessThan(BF16_TOL);
      const c = randn(M * N, 53), gate = randn(N, 54);
      const gated = ref.linear(xr, M, K, wr, b, N).map((v, i) => c[i] + gate[i % N] * v);
      expect(relErr(run('gemm_packed', { x, w, bias: b, M, K, N, bf16: 1, c, gate, gate_rows: M }), gated)).toBeLessThan(BF16_TOL);
      // and bf16 is a real approximation of the float32 product: ~2^-9 relative per rounded operand
      const err = relErr(run('gemm_packed', { x, w, bias: b, M, K, N, bf16: 1 }), ref.linear(x, M, K, w, b, N));
      expect(err).toBeLessThan(2e-2);
    });
  }

  // Attention packs K and V on the fly through the strided and transposed entry points (vectorised on AVX-512
  // BF16): the panels must be exactly those of the plain packing, so the products are bit-identical.
  for (const [M, K, N] of [[5, 72, 256], [9, 33, 47], [3, 256, 72], [2, 1, 1], [4, 64, 40]]) {
    it(`gemm_packed strided and transposed packing equal the plain one, fp32 and bf16, M=${M} K=${K} N=${N}`, () => {
      const x = randn(M * K, 55), w = randn(N * K, 56, 1 / Math.sqrt(K));
      for (const bf16 of [0, 1]) {
        const plain = run('gemm_packed', { x, w, M, K, N, bf16 });
        expect(run('gemm_packed', { x, w, M, K, N, bf16, pack: 1 })).toEqual(plain);
        expect(run('gemm_packed', { x, w, M, K, N, bf16, pack: 2 })).toEqual(plain);
      }
    });
  }

  for (const [rows, D] of [[97, 72], [3, 1], [10, 1152]]) {
    it(`layer_norm rows=${rows} D=${D} with and without affine`, () => {
      const x = randn(rows * D, 4, 3), g = randn(D, 5), b = randn(D, 6);
      for (const v of x.keys()) x[v] += 5; // an offset mean exercises the variance computation
      expect(relErr(run('layer_norm', { x, rows, D, eps: 1e-6 }), ref.layerNorm(x, rows, D, 1e-6))).toBeLessThan(TOL);
      expect(relErr(run('layer_norm', { x, rows, D, eps: 1e-6, gamma: g, beta: b }), ref.layerNorm(x, rows, D, 1e-6, g, b))).toBeLessThan(TOL);
    });
  }

  it('layer_norm_concat equals LayerNorm(2D) of the concatenation', () => {
    const rows = 97, D = 40;
    const a = randn(rows * D, 7), bb = randn(rows * D, 8, 10), g = randn(2 * D, 9), be = randn(2 * D, 10);
    const cat = new Float32Array(rows * 2 * D);
    for (let r = 0; r < rows; r++) {
      cat.set(a.subarray(r * D, (r + 1) * D), r * 2 * D);
      cat.set(bb.subarray(r * D, (r + 1) * D), r * 2 * D + D);
    }
    const out = run('layer_norm_concat', { a, b: bb, rows, D, eps: 1e-6, gamma: g, beta: be });
    expect(relErr(out, ref.layerNorm(cat, rows, 2 * D, 1e-6, g, be))).toBeLessThan(TOL);
  });

  it('modulate and gate_residual broadcast conditioning rows over groups (Latte repeat)', () => {
    const G = 6, N = 13, D = 24, repeat = 3, stride = 6 * D;
    const x = randn(G * N * D, 11), mod = randn((G / repeat) * stride, 12), y = randn(G * N * D, 13);
    const expMod = new Float64Array(G * N * D), expGate = new Float64Array(G * N * D);
    for (let g = 0; g < G; g++)
      for (let n = 0; n < N; n++)
        for (let d = 0; d < D; d++) {
          const i = (g * N + n) * D + d, row = Math.floor(g / repeat) * stride;
          expMod[i] = x[i] * (1 + mod[row + 4 * D + d]) + mod[row + 3 * D + d];
          expGate[i] = x[i] + mod[row + 5 * D + d] * y[i];
        }
    expect(relErr(run('modulate', { x, G, N, D, mod, stride, repeat, shiftCol: 3 * D, scaleCol: 4 * D }), expMod)).toBeLessThan(TOL);
    expect(relErr(run('gate_residual', { h: x, y, G, N, D, mod, stride, repeat, gateCol: 5 * D }), expGate)).toBeLessThan(TOL);
  });

  it('layer_norm_modulate equals layer_norm then modulate (Latte repeat)', () => {
    const G = 6, N = 13, D = 72, repeat = 3, stride = 6 * D;
    const x = randn(G * N * D, 14, 3).map((v) => v + 2), mod = randn((G / repeat) * stride, 15);
    const normed = ref.layerNorm(x, G * N, D, 1e-6);
    const expected = normed.map((v, i) => {
      const g = Math.floor(i / (N * D)), d = i % D, row = Math.floor(g / repeat) * stride;
      return v * (1 + mod[row + D + d]) + mod[row + d];
    });
    expect(relErr(run('layer_norm_modulate', { x, G, N, D, mod, stride, repeat, eps: 1e-6, shiftCol: 0, scaleCol: D }), expected)).toBeLessThan(TOL);
  });

  it('gelu_tanh and silu over a wide range', () => {
    const n = 1001;
    const x = Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));
    expect(relErr(run('gelu_tanh', { x, n }), Array.from(x, ref.gelu))).toBeLessThan(TOL);
    expect(relErr(run('silu', { x, n }), Array.from(x, ref.silu))).toBeLessThan(TOL);
  });

  for (const [G, N, H, hd] of [[2, 97, 3, 16], [1, 97, 2, 72], [3, 1, 1, 8], [1, 130, 4, 20], [4, 16, 16, 72], [1, 300, 2, 16], [2, 600, 1, 40]]) {
    it(`attention G=${G} N=${N} H=${H} hd=${hd} (online softmax over key tiles)`, () => {
      const qkv = randn(G * N * 3 * H * hd, 14, 2);
      expect(relErr(run('attention', { qkv, G, N, H, hd }), ref.attention(qkv, G, N, H, hd))).toBeLessThan(TOL);
    });
  }

  // bf16 attention (models loaded with bfloat16 weights): Q, K, softmax weights and V rounded to bf16 for the
  // two products where the CPU has AVX-512 BF16; elsewhere the float32 kernel.
  for (const [G, N, H, hd] of [[2, 97, 3, 16], [1, 300, 2, 72], [2, 600, 1, 40]]) {
    it(`attention with bf16 products G=${G} N=${N} H=${H} hd=${hd}`, () => {
      const qkv = randn(G * N * 3 * H * hd, 16, 1);
      const err = relErr(run('attention', { qkv, G, N, H, hd, bf16: 1 }), ref.attention(qkv, G, N, H, hd));
      if (native().backends()[0].gemmBf16 === 'avx512bf16') {
        expect(err).toBeGreaterThan(1e-5); // really rounded
        expect(err).toBeLessThan(1e-2); // a few bf16 roundings (2^-9) deep
      } else {
        expect(err).toBeLessThan(TOL);
      }
    });
  }

  it('attention stays finite with large logits', () => {
    const G = 1, N = 97, H = 1, hd = 16;
    const qkv = randn(G * N * 3 * H * hd, 15, 30);
    const out = run('attention', { qkv, G, N, H, hd });
    expect(out.every(Number.isFinite)).toBe(true);
    // float32 logits carry an absolute error of a few ulps of the largest logit, which becomes the
    // relative error of the softmax weights: bound the output error by that conditioning.
    let maxLogit = 0;
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += qkv[i * 3 * hd + d] * qkv[j * 3 * hd + hd + d];
        maxLogit = Math.max(maxLogit, Math.abs(s) / Math.sqrt(hd));
      }
    expect(maxLogit).toBeGreaterThan(100);
    expect(relErr(out, ref.attention(qkv, G, N, H, hd))).toBeLessThan(8 * maxLogit * 2 ** -24);
  });

  for (const [B, C, Hs, Ws, p, D] of [[2, 4, 8, 8, 2, 64], [1, 3, 12, 12, 4, 37], [3, 1, 6, 9, 3, 5], [1, 5, 7, 7, 1, 11]]) {
    it(`patch_embed B=${B} C=${C} ${Hs}x${Ws} p=${p} D=${D}`, () => {
      const x = randn(B * C * Hs * Ws, 16), w = randn(D * C * p * p, 17, 0.3), b = randn(D, 18);
      expect(relErr(run('patch_embed', { x, B, C, H: Hs, W: Ws, p, D, w, bias: b }), ref.patchEmbed(x, B, C, Hs, Ws, p, w, b, D))).toBeLessThan(TOL);
    });
  }

  it('pos_embed_2d / pos_embed_1d equal the reference and the stored official buffers', () => {
    for (const [D, G] of [[64, 4], [1152, 16], [72, 7]]) expect(relErr(run('pos_embed_2d', { D, G }), ref.posEmbed2d(D, G))).toBeLessThan(1e-7);
    for (const [D, F] of [[64, 4], [1152, 16], [40, 3]]) expect(relErr(run('pos_embed_1d', { D, F }), ref.posEmbed1d(D, F))).toBeLessThan(1e-7);
    const dit = readSafetensors(fixturePath('dit-skip-tiny', 'model.safetensors')).tensors;
    expect(run('pos_embed_2d', { D: 64, G: 4 })).toEqual(f32(dit.pos_embed));
    const latte = readSafetensors(fixturePath('latte-skip-tiny', 'model.safetensors')).tensors;
    expect(run('pos_embed_1d', { D: 64, F: 4 })).toEqual(f32(latte.temp_embed));
  });

  it('timestep_frequencies (cos first) for integer and fractional t', () => {
    const t = Float32Array.from([0, 1, 2.5, 17, 49.75]);
    expect(relErr(run('timestep_frequencies', { t, B: t.length, dim: 256 }), ref.timestepFrequencies(t, 256))).toBeLessThan(1e-5);
    const odd = run('timestep_frequencies', { t, B: t.length, dim: 7 });
    expect(odd[6]).toBe(0); // odd dim: zero-padded column
  });

  it('embedding lookup including the null row', () => {
    const R = 11, D = 9, table = randn(R * D, 19);
    const out = run('embedding', { table, rows: R, D, B: 3, labels: Int32Array.from([10, 0, 4]) });
    expect(Array.from(out)).toEqual([...table.subarray(90, 99), ...table.subarray(0, 9), ...table.subarray(36, 45)]);
  });

  for (const [B, G, p, C] of [[2, 4, 2, 8], [1, 3, 4, 1], [3, 5, 1, 6]]) {
    it(`unpatchify B=${B} G=${G} p=${p} C=${C}`, () => {
      const tok = randn(B * G * G * p * p * C, 20);
      expect(Array.from(run('unpatchify', { tokens: tok, B, G, p, C }))).toEqual(Array.from(ref.unpatchify(tok, B, G, p, C), Math.fround));
    });
  }

  it('swap_token_axes is Latte\'s (b f) t d <-> (b t) f d and its inverse', () => {
    const B = 2, F = 3, T = 97, D = 5;
    const x = randn(B * F * T * D, 21);
    const y = run('swap_token_axes', { x, B, A1: F, A2: T, D });
    expect(Array.from(y)).toEqual(Array.from(ref.swapAxes(x, B, F, T, D), Math.fround));
    expect(run('swap_token_axes', { x: y, B, A1: T, A2: F, D })).toEqual(x);
  });

  it('cfg_guidance guides the first channels and keeps the rest per row', () => {
    const B = 4, F = 2, C = 8, HW = 5, guided = 3, scale = 4;
    const raw = randn(B * F * C * HW, 22);
    for (const uncondFirst of [0, 1]) {
      const out = run('cfg_guidance', { raw, B, F, C, HW, guided, scale, uncondFirst });
      for (let b = 0; b < B; b++)
        for (let f = 0; f < F; f++)
          for (let c = 0; c < C; c++)
            for (let i = 0; i < HW; i++) {
              const at = (bb: number) => ((bb * F + f) * C + c) * HW + i;
              const first = raw[at(b % 2)], second = raw[at((b % 2) + 2)];
              const [cond, uncond] = uncondFirst ? [second, first] : [first, second];
              const expected = c < guided ? uncond + scale * (cond - uncond) : raw[at(b)];
              expect(out[at(b)]).toBeCloseTo(expected, 5);
            }
    }
  });

  for (const [B, Cin, H, W, Cout, k] of [[2, 3, 5, 7, 4, 3], [1, 6, 9, 9, 5, 1], [1, 2, 70, 65, 3, 3], [1, 1, 1, 1, 2, 3]]) {
    it(`conv2d B=${B} Cin=${Cin} ${H}x${W} Cout=${Cout} k=${k} (tiled im2col, ${H * W > 4096 ? 'several tiles' : 'one tile'})`, () => {
      const x = randn(B * Cin * H * W, 30), w = randn(Cout * Cin * k * k, 31, 1 / Math.sqrt(Cin * k * k)), b = randn(Cout, 32);
      expect(relErr(run('conv2d', { x, B, Cin, H, W, Cout, k, w, bias: b }), ref.conv2d(x, B, Cin, H, W, w, b, Cout, k))).toBeLessThan(TOL);
    });
  }

  for (const [B, C, HW, G] of [[2, 8, 15, 4], [1, 32, 49, 32], [1, 6, 1, 1]]) {
    it(`group_norm B=${B} C=${C} HW=${HW} groups=${G}, plain and with fused SiLU`, () => {
      const x = randn(B * C * HW, 33, 2), g = randn(C, 34), be = randn(C, 35);
      for (let i = 0; i < x.length; i++) x[i] += 3;
      expect(relErr(run('group_norm', { x, B, C, HW, groups: G, eps: 1e-6, gamma: g, beta: be }), ref.groupNorm(x, B, C, HW, G, 1e-6, g, be))).toBeLessThan(TOL);
      expect(relErr(run('group_norm', { x, B, C, HW, groups: G, eps: 1e-6, gamma: g, beta: be, silu: 1 }), ref.groupNorm(x, B, C, HW, G, 1e-6, g, be, true))).toBeLessThan(TOL);
    });
  }

  it('upsample_nearest2x (odd sizes)', () => {
    const N = 3, H = 3, W = 5, x = randn(N * H * W, 36);
    const y = run('upsample_nearest2x', { x, N, H, W });
    for (let n = 0; n < N; n++) for (let oy = 0; oy < 2 * H; oy++) for (let ox = 0; ox < 2 * W; ox++) {
      expect(y[(n * 2 * H + oy) * 2 * W + ox]).toBe(x[(n * H + (oy >> 1)) * W + (ox >> 1)]);
    }
  });

  it('rejects bad kernel arguments with a typed error', () => {
    expect(() => run('linear', { x: new Float32Array(3), w: new Float32Array(4), M: 2, K: 2, N: 2 })).toThrow(/Expected 4 elements/);
    expect(() => run('nope', {})).toThrow(/kernel name/);
    expect(() => run('embedding', { table: new Float32Array(4), rows: 2, D: 2, B: 1, labels: Int32Array.from([2]) })).toThrow(/out of range/);
  });
});
