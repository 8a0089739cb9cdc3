// Seeded Gaussian noise, identical on every run, platform and backend (generated here in TypeScript).
//
// Algorithm (a stable contract: changing it changes every seeded result):
//   state = xoshiro128** seeded with four words from a splitmix32 sequence over (seed_lo, seed_hi, stream);
//   each pair of uniforms u1 = (a + 1) / 2^32, u2 = b / 2^32 (a, b the next two 32-bit outputs) gives
//   z = sqrt(-2 ln u1) * cos(2 pi u2) in float64, rounded to float32 (one value per pair).
// `stream` separates independent uses of one seed: stream 0 is the initial latent, stream j + 1 the noise of
// sampler step j, so the noise of a step never depends on how many values earlier steps drew.
import { InvalidArgumentError } from './errors.js';

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) >>> 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [state, (z ^ (z >>> 16)) >>> 0];
}

export class NoiseGenerator {
  #s: Uint32Array;

  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw InvalidArgumentError.expected('seed', 'a non-negative safe integer', seed);
    if (!Number.isSafeInteger(stream) || stream < 0) throw InvalidArgumentError.expected('stream', 'a non-negative safe integer', stream);
    let state = 0;
    const words: number[] = [];
    for (const part of [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, stream >>> 0, Math.floor(stream / 2 ** 32) >>> 0]) {
      let out: number;
      [state, out] = splitmix32((state ^ part) >>> 0);
      words.push(out);
    }
    this.#s = Uint32Array.from(words);
    if (this.#s.every((w) => w === 0)) this.#s[0] = 1; // xoshiro's one forbidden state
  }

  /** xoshiro128**: next 32-bit output. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** n standard normal float32 values. */
  gaussian(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u1 = (this.nextUint32() + 1) / 2 ** 32;
      const u2 = this.nextUint32() / 2 ** 32;
      out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** n Gaussian float32 values for (seed, stream). */
export function gaussianNoise(n: number, seed: number, stream = 0): Float32Array {
  return new NoiseGenerator(seed, stream).gaussian(n);
}
