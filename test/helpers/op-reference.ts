// What each Backend op of op-cases.ts must return, computed by the CPU kernels through runKernel (or a
// one-line composition of them), so the runOp hook is checked on every machine. Both hooks are in the test addon.
import { testNative } from './test-native.js';
import { createSampler } from '../../lib/samplers.js';
import { diffusersScheduler, type DiffusersSpec, type OpCase, type SamplerSpec } from './op-cases.js';

type A = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const k = (name: string, args: A) => testNative().runKernel(name, args);

export function cpuExpected(c: OpCase): Float32Array {
  if (c.expected) return c.expected();
  const a = c.args as A;
  const cols = (chunk: number) => chunk * a.D;
  switch (c.op) {
    case 'linear_gate_residual': {
      const y = k('linear', { M: a.G * a.N, K: a.K, N: a.D, x: a.x, w: a.w, bias: a.bias });
      return k('gate_residual', { ...a, y, stride: a.chunks * a.D, gateCol: cols(a.gateChunk) });
    }
    case 'layer_norm_modulate': {
      const x = k('layer_norm', { rows: a.G * a.N, D: a.D, x: a.x, eps: a.eps });
      return k('modulate', { ...a, x, stride: a.chunks * a.D, shiftCol: cols(a.shiftChunk), scaleCol: cols(a.scaleChunk) });
    }
    case 'copy':
      return Float32Array.from(a.x as Float32Array);
    case 'add':
      return Float32Array.from(a.x as Float32Array, (v, i) => v + a.y[i]);
    case 'add_broadcast_rows':
      return Float32Array.from(a.x as Float32Array, (v, i) => v + a.e[i % (a.N * a.D)]);
    case 'group_norm':
      return k('group_norm', { ...a, HW: a.H * a.W });
    case 'sampler_update': {
      if (a.diffusers) { // the TypeScript DDIMScheduler / DDPMScheduler step on eps (v) = the first C channels of every row
        const spec = a.diffusers as DiffusersSpec;
        const plane = a.C * a.inner, rows = a.doubled ? 2 : 1;
        const eps = new Float32Array(a.outer * plane);
        for (let o = 0; o < a.outer; o++) eps.set((a.out as Float32Array).subarray(rows * o * plane, (rows * o + 1) * plane), o * plane);
        return diffusersScheduler(spec).step(spec.index, a.x, eps, a.noise).prevSample;
      }
      // The TypeScript sampler itself: the native op must reproduce step() bit for bit.
      const spec = a.sampler as SamplerSpec;
      const sampler = createSampler(spec.name, spec.steps, { eta: spec.eta, variance: spec.variance });
      const out = { data: a.out as Float32Array, shape: [a.outer, a.doubled ? 2 * a.C : a.C, a.inner] };
      return sampler.step(out, spec.index, { data: a.x, shape: [a.outer, a.C, a.inner] }, a.noise).prevSample;
    }
    case 'upsample_nearest2x':
      return k('upsample_nearest2x', { N: a.B * a.C, H: a.H, W: a.W, x: a.x });
    default:
      return k(c.op, a);
  }
}
