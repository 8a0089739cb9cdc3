// Error measures used by the tests. relErr = max|a - b| / max|b| (the scale-free "relative error" of the
// fixture tolerances: robust to elements near zero, sensitive to any single wrong element).
import { afterAll, expect } from 'vitest';

export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/** A seeded generator of N(0, 1) float32 values (mulberry32 + Box-Muller). */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(uniform(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

/** Slice j of the leading axis of a stacked array. */
export function slice(data: Float32Array, shape: number[], j: number): Float32Array {
  const per = data.length / shape[0];
  return data.subarray(j * per, (j + 1) * per);
}

/** The IEEE bit patterns of float32 values (for bit-for-bit comparisons that also tell -0 from 0). */
export function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

/**
 * A fixture test file's error table: `check(label, actual, expected, bound?)` asserts relErr <= bound (default `tol`)
 * and records the error; the table is printed after the file's tests.
 */
export function errorReport(title: string, tol: number, width = 44) {
  const lines: string[] = [];
  afterAll(() => console.log(`\n${title} max relative errors (max|a-b|/max|b|):\n` + lines.join('\n')));
  return {
    lines,
    check(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, bound = tol): void {
      const err = relErr(actual, expected);
      lines.push(`  ${label.padEnd(width)} ${err.toExponential(2)}`);
      expect(err, label).toBeLessThanOrEqual(bound);
    },
  };
}
