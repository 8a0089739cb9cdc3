// The op profiler (native/backend/profiling_backend) and the `skipdit bench` harness (lib/bench.ts) on the tiny
// fixture model. No timing thresholds: only structure, counts and the consistency of the totals.
import { describe, expect, it } from 'vitest';
import { forwardFlops, loadModel } from '../lib/index.js';
import { benchConfig, defaultPolicies, median } from '../lib/bench.js';
import { InvalidArgumentError } from '../lib/errors.js';
import { native } from '../lib/native.js';
import { fixturePath } from './helpers/fixtures.js';
import { opCases, runOpCase } from './helpers/op-cases.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';
import { cli } from './helpers/cli.js';

const tiny = fixturePath('dit-skip-tiny', 'model.safetensors');
const x = { data: new Float32Array(2 * 4 * 8 * 8).map((_, i) => Math.cos(i)), shape: [2, 4, 8, 8] };

describe('op profile (loadModel { profile: true })', () => {
  it('lists the ops of a forward with counts, and its FLOPs add up to the model\'s FLOP count', async () => {
    const model = await loadModel(tiny, { backend: 'cpu', profile: true });
    const { depth } = model.config;
    await model.forward({ x, t: [10, 500], y: [1, 2] }); // warm-up: sizes the workspace
    model.profile({ reset: true }); // drop the load and warm-up ops (upload, weight packing, allocations)
    const t0 = performance.now();
    const plain = await model.forward({ x, t: [10, 500], y: [1, 2] });
    const wallSeconds = (performance.now() - t0) / 1000;
    const p = model.profile()!;
    expect(p.backend).toBe('cpu');
    const byOp = Object.fromEntries(p.ops.map((o) => [o.op, o]));
    for (const op of ['attention', 'patch_embed', 'timestep_frequencies', 'embedding', 'layer_norm_concat', 'unpatchify']) {
      expect(byOp[op]?.calls, op).toBeGreaterThan(0);
    }
    expect(byOp.empty).toBeUndefined(); // no allocation in a warm forward
    expect(byOp.attention.calls).toBe(depth); // one per block
    expect(byOp.layer_norm_concat.calls).toBe(depth / 2); // one per skip fusion
    expect(p.ops.some((o) => o.op.startsWith('linear') && o.calls > 0)).toBe(true);
    for (const o of p.ops) {
      expect(o.calls, o.op).toBeGreaterThan(0);
      expect(o.seconds, o.op).toBeGreaterThanOrEqual(0);
    }
    // every GEMM-like op is counted: the sum is the model's FLOP count (describeModel; test/architecture.test.ts
    // checks that against hand formulas)
    const flops = p.ops.reduce((a, o) => a + o.flops, 0);
    expect(flops / forwardFlops(model.config, 2)).toBeCloseTo(1, 10);
    // the ops run inside the forward
    expect(p.ops.reduce((a, o) => a + o.seconds, 0)).toBeLessThanOrEqual(wallSeconds);

    // a second forward doubles every count; the output is the unprofiled model's
    await model.forward({ x, t: [10, 500], y: [1, 2] });
    const twice = model.profile({ reset: true })!;
    for (const o of twice.ops) expect(o.calls, o.op).toBe(2 * byOp[o.op].calls);
    expect(model.profile()!.ops).toEqual([]); // reset

    const unprofiled = await loadModel(tiny, { backend: 'cpu' });
    expect(unprofiled.profile()).toBeNull();
    expect((await unprofiled.forward({ x, t: [10, 500], y: [1, 2] })).data).toEqual(plain.data);
    unprofiled.dispose();
    model.dispose();
    await expect(loadModel(tiny, { profile: 'yes' as unknown as boolean })).rejects.toThrow(InvalidArgumentError);
  });
});

describe.skipIf(testAddonSkip)(`op profiler as a Backend${testAddonNote}`, () => {
  it('forwards every Backend op unchanged (runOp through the profiler equals the CPU backend bit for bit)', () => {
    const cases = opCases();
    expect(new Set(cases.map((c) => c.op))).toEqual(new Set(testNative().opNames()));
    for (const c of cases) {
      expect(runOpCase('profiled:cpu', 'float32', c.op, c.args), `${c.op} ${c.label}`).toEqual(runOpCase('cpu', 'float32', c.op, c.args));
    }
  });
});

describe('lib/bench helpers', () => {
  it('median, official configs, default policies capped at the model depth', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(benchConfig('XL')).toMatchObject({ hidden_size: 1152, depth: 28, input_size: 32, patch_size: 2, num_classes: 1000 });
    expect(benchConfig('S', 'latte')).toMatchObject({ family: 'latte', num_frames: 16 });
    expect(() => benchConfig('M' as 'S')).toThrow(InvalidArgumentError);
    expect(defaultPolicies(benchConfig('XL'))).toEqual(['none', 'dit:2', 'dit:3']);
    expect(defaultPolicies({ ...benchConfig('S'), depth: 6 })).toEqual(['none', 'dit:2:2', 'dit:3:2']);
    expect(defaultPolicies({ ...benchConfig('S'), depth: 8 })).toEqual(['none', 'dit:2:3', 'dit:3:3']);
  });
});

describe('skipdit bench', () => {
  it('reports peak, steps, runs, memory and the op profile of a checkpoint as JSON', async () => {
    const { stdout } = await cli('bench', '--model', tiny, '--repeats', '2', '--steps', '6', '--policies', 'none,dit:2:1,dit:3:1',
      '--profile-forwards', '2', '--peak-seconds', '0.05', '--json');
    const r = JSON.parse(stdout);
    expect(r.model).toMatchObject({ source: tiny, dtype: 'float32', backend: 'cpu' });
    expect(r.model.config.depth).toBe(8);
    expect(r.peak.gflops).toBeGreaterThan(0);
    expect(r.steps.map((s: { name: string }) => s.name)).toEqual(['full step', 'cached step k=1']); // k=4 keeps all 8 blocks
    const [full, k1] = r.steps;
    expect([full.blocks, k1.blocks]).toEqual([8, 2]);
    expect(full.speedup).toBe(1);
    expect(full.predicted).toBe(1);
    expect(k1.predicted).toBeGreaterThan(1);
    for (const s of r.steps) {
      expect(s.ms).toBeGreaterThan(0);
      expect(s.gflops).toBeCloseTo((s.gflop * 1000) / s.ms, 6);
    }
    expect(r.runs.rows.map((x: { policy: string }) => x.policy)).toEqual(['none', 'dit:2:1', 'dit:3:1']);
    expect(r.runs.rows.map((x: { cachedSteps: number }) => x.cachedSteps)).toEqual([0, 3, 4]);
    expect(r.runs.rows[0]).toMatchObject({ speedup: 1, predicted: 1 });
    expect(r.runs.rows[2].predicted).toBeGreaterThan(r.runs.rows[1].predicted);
    expect(r.memory.weightBytes).toBeGreaterThan(0);
    expect(r.memory.maxRssBytes).toBeGreaterThan(r.memory.weightBytes);
    expect(r.profile.forwards).toBe(2);
    expect(r.profile.opsMs).toBeLessThanOrEqual(r.profile.wallMs);
    expect(r.profile.ops.find((o: { op: string }) => o.op === 'attention').calls).toBe(8);
    expect(r.profile.ops.reduce((a: number, o: { percent: number }) => a + o.percent, 0)).toBeCloseTo(100, 6);
  });

  it('measures bf16 models against the bf16 dot-product peak where the CPU has one', async () => {
    const { stdout } = await cli('bench', '--model', tiny, '--dtype', 'bfloat16', '--repeats', '1', '--steps', '0',
      '--profile-forwards', '0', '--peak-seconds', '0.05', '--json');
    const r = JSON.parse(stdout);
    const dotProducts = native().backends()[0].gemmBf16 === 'avx512bf16';
    expect(r.peak.bf16Gflops > 0).toBe(dotProducts);
    expect(r.peakUsed).toEqual(dotProducts ? { name: 'bf16 dot product', gflops: r.peak.bf16Gflops } : { name: 'fp32 FMA', gflops: r.peak.gflops });
    const full = r.steps[0];
    expect(full.peakPercent).toBeCloseTo((100 * full.gflops) / r.peakUsed.gflops, 6);
  });

  it('prints a table, and a typed error for bad input', async () => {
    const { stdout } = await cli('bench', '--model', tiny, '--repeats', '1', '--steps', '0', '--profile-forwards', '1', '--peak-seconds', '0.05');
    expect(stdout).toMatch(/FMA peak \(measured\): \d+ GFLOP\/s/);
    expect(stdout).toMatch(/full step\s+8\s/);
    expect(stdout).toMatch(/per-op time of a full step/);
    expect(stdout).not.toMatch(/DDIM run/);
    const err = await cli('bench', '--model', tiny, '--batch', '0').catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/InvalidArgumentError: Expected an integer >= 1 for batch but received 0/);
  });
});
