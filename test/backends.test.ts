// Backends: the CPU always works; the CUDA backend, compiled in whenever nvcc was on PATH at build
// time, reports honestly why it cannot run here, and its presence never disturbs the CPU path.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { backends, loadModel } from '../lib/index.js';
import { native } from '../lib/native.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';
import { randn, relErr } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';
import { writeSafetensors } from './helpers/safetensors.js';
import { fixtureTolerance } from './helpers/tolerances.js';
import { randomWeights } from './reference/model.js';
import { normalizeConfig } from '../lib/config.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

function nvccOnPath(): boolean {
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('backends()', () => {
  it('lists cpu (available, with its thread count) and cuda (with a reason when it cannot run)', () => {
    const [cpu, cuda] = backends();
    expect(cpu).toMatchObject({ name: 'cpu', available: true });
    expect(cpu.details.threads).toBeGreaterThanOrEqual(1);
    expect(cuda.name).toBe('cuda');
    if (!cuda.available) expect(cuda.reason).toMatch(/\w{8,}/);
  });

  it('the CUDA backend is compiled in exactly when nvcc is present (CI builds with it here)', () => {
    const cuda = native().backends()[1];
    expect(cuda.compiled).toBe(nvccOnPath());
    if (cuda.compiled) {
      expect(cuda.architectures.length).toBeGreaterThan(0);
      expect(cuda.runtimeVersion).toBeGreaterThanOrEqual(12000);
    }
  });

  it.skipIf(testAddonSkip)(`the CUDA device self-test (test addon) runs where a GPU is present and explains itself where not${testAddonNote}`, () => {
    const cuda = native().backends()[1];
    const result = testNative().cudaSelfTest();
    if (cuda.deviceAvailable) expect(result).toBe('');
    else expect(result).toMatch(cuda.compiled ? /CUDA unavailable: .+/ : /built without CUDA/);
  });

  it('backend auto computes in the same process, matching the fixture within the chosen backend\'s tolerance', async () => {
    const model = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'), { backend: 'auto' });
    expect(model.backend).toBe(backends()[1].available ? 'cuda' : 'cpu');
    const c = loadCases('dit-skip-tiny');
    const r = await model.forward({ x: { data: f32(c['forward.x']), shape: c['forward.x'].shape }, t: f32(c['forward.t']), y: ints(c['forward.y']) });
    // 1e-5 on the CPU; on a GPU 'auto' picks CUDA, whose fp32 GEMMs sum in another order (docs/cuda.md).
    expect(relErr(r.data, f32(c['forward.out']))).toBeLessThan(fixtureTolerance(model.backend));
    model.dispose();
  });
});

describe("dtype: 'bfloat16' weights on CPU", () => {
  it('approximates the float32 fixture to bf16 accuracy; the error is measured, not zero', async () => {
    const c = loadCases('dit-skip-tiny');
    const input = { x: { data: f32(c['forward.x']), shape: c['forward.x'].shape }, t: f32(c['forward.t']), y: ints(c['forward.y']) };
    const model = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'), { backend: 'cpu', dtype: 'bfloat16' });
    expect(model.dtype).toBe('bfloat16');
    const err = relErr((await model.forward(input)).data, f32(c['forward.out']));
    console.log(`  dit-skip-tiny forward with bf16 weights (${backends()[0].details.gemmBf16} kernel): rel. error ${err.toExponential(2)} vs float32 fixture`);
    expect(err).toBeGreaterThan(1e-6); // really computed in bf16
    expect(err).toBeLessThan(2e-2); // ~2^-9 per rounded operand, a few layers deep
    model.dispose();
  });

  // With the dot-product kernel every GEMM input is rounded to bf16 anyway, so the tensors that only feed GEMMs
  // (pre-norm outputs, MLP hidden, skip concat) are stored rounded: the result must not change by one bit.
  // Where the CPU lacks AVX-512 BF16 both runs are the float32-operand path.
  for (const [label, load] of [
    ['dit-skip-tiny fixture', async () => fixturePath('dit-skip-tiny', 'model.safetensors')],
    ['Latte-skip, hidden 12, 4 heads of 3', async () => {
      const config = normalizeConfig({ family: 'latte', skip: true, depth: 4, hidden_size: 12, num_heads: 4, patch_size: 2, input_size: 8, in_channels: 3, num_frames: 2, num_classes: 5 });
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'skipdit-odd-')), 'm.safetensors');
      writeSafetensors(file, randomWeights(config, randn), { config: JSON.stringify(config) });
      return file;
    }],
  ] as const) {
    it(`bf16 operands stored rounded give bit-identical forwards (${label})`, async () => {
      const file = await load();
      const forward = async (operands: string | undefined) => {
        if (operands === undefined) delete process.env.SKIPDIT_CPU_BF16_OPERANDS;
        else process.env.SKIPDIT_CPU_BF16_OPERANDS = operands;
        const model = await loadModel(file, { backend: 'cpu', dtype: 'bfloat16' });
        delete process.env.SKIPDIT_CPU_BF16_OPERANDS;
        const { input_size: S, in_channels: C, num_frames: F, family } = model.config;
        const shape = family === 'latte' ? [2, F, C, S, S] : [2, C, S, S];
        const x = { data: randn(shape.reduce((a, b) => a * b, 1), 7), shape };
        const out = (await model.forwardWithCfg({ x, t: 321, y: [1, model.config.num_classes], cfgScale: 3 })).data;
        model.dispose();
        return out;
      };
      const rounded = await forward(undefined), float = await forward('0');
      expect(Buffer.from(rounded.buffer).equals(Buffer.from(float.buffer))).toBe(true);
      expect(rounded.some((v) => v !== 0) && rounded.every(Number.isFinite)).toBe(true);
    });
  }

  it('rejects float16 on CPU and unknown dtypes with typed errors naming the option', async () => {
    const file = fixturePath('dit-skip-tiny', 'model.safetensors');
    await expect(loadModel(file, { backend: 'cpu', dtype: 'float16' })).rejects.toThrow(/'float32' or 'bfloat16' on the cpu backend for options\.dtype.*float16/);
    await expect(loadModel(file, { backend: 'cpu', dtype: 'int8' as never })).rejects.toMatchObject({ name: 'InvalidArgumentError' });
  });
});

describe('off the JS thread', () => {
  it('the event loop keeps ticking during a forward', async () => {
    const config = normalizeConfig({ family: 'dit', skip: true, depth: 4, hidden_size: 256, num_heads: 4, patch_size: 2, input_size: 32, in_channels: 4, num_classes: 10 });
    const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-loop-'));
    const file = path.join(dir, 'm.safetensors');
    writeSafetensors(file, randomWeights(config, randn), { config: JSON.stringify(config) });
    const model = await loadModel(file);
    const x = { data: randn(4 * 4 * 32 * 32, 3), shape: [4, 4, 32, 32] };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const start = performance.now();
    await model.forward({ x, t: 500, y: [1, 2, 3, 4] });
    const elapsed = performance.now() - start;
    clearInterval(timer);
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
    expect(elapsed).toBeGreaterThan(20); // long enough for the check to mean something
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 2 / 4)); // a blocked loop would tick ~0 times
  });
});
