// The runOp hook (test/hooks/backend_ops.cc, in the test addon) on the CPU backend: every Backend op, through the interface the
// model graph uses, equals the CPU kernels it wraps. test/cuda.test.ts runs the same cases on CUDA.
import { describe, expect, it } from 'vitest';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';
import { bits, relErr } from './helpers/compare.js';
import { opCases, runOpCase } from './helpers/op-cases.js';
import { cpuExpected } from './helpers/op-reference.js';

const cases = opCases();

describe.skipIf(testAddonSkip)(`Backend ops on cpu (runOp)${testAddonNote}`, () => {
  it('every Backend op has cases', () => {
    expect(testNative().opNames().sort()).toEqual([...new Set(cases.map((c) => c.op))].sort());
  });

  for (const c of cases) {
    it(`${c.op} ${c.label}`, () => {
      const got = runOpCase('cpu', 'float32', c.op, c.args);
      const expected = cpuExpected(c);
      if (c.exact) expect(bits(got)).toEqual(bits(expected));
      expect(relErr(got, expected)).toBeLessThan(1e-5);
    });
  }

  it('names a missing argument and an unknown op', () => {
    expect(() => testNative().runOp('cpu', 'float32', 'nope', {})).toThrow(/backend op name/);
    expect(() => testNative().runOp('cpu', 'float32', 'silu', { inputs: {} })).toThrow(/inputs\.x/);
    expect(() => testNative().runOp('cpu', 'float64', 'silu', { inputs: { x: { data: new Float32Array(1), shape: [1] } } })).toThrow(/dtype/);
  });
});
