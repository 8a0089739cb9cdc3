// The runOp hook (bindings/backend_ops.cc) on the CPU backend: every Backend op, through the interface the
// model graph uses, equals the CPU kernels it wraps. test/cuda.test.ts runs the same cases on CUDA.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/native.js';
import { bits, relErr } from './helpers/compare.js';
import { opCases } from './helpers/op-cases.js';
import { cpuExpected } from './helpers/op-reference.js';

const cases = opCases();

describe('Backend ops on cpu (runOp)', () => {
  it('every Backend op has cases', () => {
    expect(native().opNames().sort()).toEqual([...new Set(cases.map((c) => c.op))].sort());
  });

  for (const c of cases) {
    it(`${c.op} ${c.label}`, () => {
      const got = native().runOp('cpu', 'float32', c.op, c.args);
      const expected = cpuExpected(c);
      if (c.exact) expect(bits(got)).toEqual(bits(expected));
      expect(relErr(got, expected)).toBeLessThan(1e-5);
    });
  }

  it('names a missing argument and an unknown op', () => {
    expect(() => native().runOp('cpu', 'float32', 'nope', {})).toThrow(/backend op name/);
    expect(() => native().runOp('cpu', 'float32', 'silu', { n: 3 })).toThrow(/x/);
    expect(() => native().runOp('cpu', 'float64', 'silu', { n: 1, x: new Float32Array(1) })).toThrow(/dtype/);
  });
});
