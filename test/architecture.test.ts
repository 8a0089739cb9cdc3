// describeModel(): the native description of an architecture (parameters, FLOPs per block, skip pairs,
// cached steps) that lib/ reads instead of keeping its own copies. Checked against the fixture checkpoints'
// tensors and against FLOP formulas written out here by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeModel, modelParams } from '../lib/architecture.js';
import { defaultPolicies } from '../lib/bench.js';
import { callFlops, forwardFlops } from '../lib/flops.js';
import { checkpointShapes } from '../lib/random-checkpoint.js';
import { CheckpointError, InvalidArgumentError, inspectCheckpoint, loadModel, normalizeConfig, presets, type ModelConfig } from '../lib/index.js';
import { native } from '../lib/native.js';
import { fixturePath, loadFixtureModel } from './helpers/fixtures.js';
import { readSafetensors, writeSafetensors } from './helpers/safetensors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-architecture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ditConfig = loadFixtureModel('dit-skip-tiny').config;
const latteConfig = loadFixtureModel('latte-skip-tiny').config;

describe('describeModel: parameters', () => {
  for (const [name, config] of [['dit-skip-tiny', ditConfig], ['latte-skip-tiny', latteConfig]] as const) {
    it(`lists exactly the tensors (names and shapes) of the ${name} checkpoint`, () => {
      const file = readSafetensors(fixturePath(name, 'model.safetensors')).tensors;
      const params = describeModel(config).params;
      expect(Object.fromEntries(params.map((p) => [p.name, p.shape]))).toEqual(Object.fromEntries(Object.entries(file).map(([k, t]) => [k, t.shape])));
      expect(new Set(params.map((p) => p.name)).size).toBe(params.length);
      // the random checkpoints of benchmarks are written from the same list, in its order
      expect(Object.entries(checkpointShapes(config))).toEqual(params.map((p) => [p.name, p.shape]));
      expect(modelParams(config)).toEqual(params); // the linear-time list that checks files
    });
  }

  it('the torch fixture (model.pt) has the same tensors as the description', async () => {
    const info = await inspectCheckpoint(fixturePath('dit-skip-tiny', 'model.pt'), { config: { num_heads: 4 } });
    const params = describeModel(ditConfig).params;
    expect(Object.fromEntries(params.map((p) => [p.name, p.shape]))).toEqual(Object.fromEntries(Object.entries(info.tensors).map(([k, t]) => [k, t.shape])));
    expect(info.config).toEqual(ditConfig);
  });

  it('a config that does not fit a file is refused by comparing the description with its tensors', async () => {
    const info = await inspectCheckpoint(fixturePath('dit-skip-tiny', 'model.safetensors'), { config: { num_heads: 4, hidden_size: 32 } });
    expect(info.config).toBeNull();
    expect(info.configError).toMatch(/does not match its config \(dit-skip, depth 8, hidden_size 32\):\n {2}wrongly shaped tensors \(\d+\):\n {4}pos_embed: expected \[1, 16, 32\], file has \[1, 16, 64\]/);
  });

  it('a metadata config deeper than the file costs what the file holds: refused by the tensor count, or listed', async () => {
    const { tensors } = readSafetensors(fixturePath('dit-skip-tiny', 'model.safetensors'));
    const write = (depth: number) => {
      const file = path.join(dir, `depth-${depth}.safetensors`);
      const meta = { input_size: 8, patch_size: 2, in_channels: 4, hidden_size: 64, depth, num_heads: 4, num_classes: 10, class_dropout: true };
      writeSafetensors(file, tensors as Record<string, { shape: number[]; data: Float32Array }>, { config: JSON.stringify(meta) });
      return file;
    };
    await expect(loadModel(write(10_000_000))).rejects.toThrow(/depth 10000000, hidden_size 64\): 10000000 blocks but the file holds 108 tensors in all/);
    const err = await loadModel(write(100)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(/missing tensors \(1104\):\n {4}blocks\.8\.attn\.qkv\.weight \[192, 64\][^]*\n {4}\.\.\. and 1084 more$/);
  });
});

/** FLOPs of one transformer block over `groups` sequences of `tokens` tokens, with its adaLN rows (B of them). */
function handBlock(c: ModelConfig, batch: number, groups: number, tokens: number): number {
  const D = c.hidden_size, Hm = Math.floor(D * c.mlp_ratio);
  return 2 * groups * tokens * D * (3 * D + D + 2 * Hm) + 4 * groups * tokens * tokens * D + 2 * batch * D * 6 * D;
}

/** The named blocks of a call by hand: a full forward, or (k > 0) a cached step keeping k units at each end. */
function handBlocks(c: ModelConfig, batch: number, k = 0): Map<string, number> {
  const latte = c.family === 'latte';
  const D = c.hidden_size, p = c.patch_size, T = (c.input_size / p) ** 2, F = latte ? c.num_frames : 1, M = batch * F * T;
  const Cout = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const unit = latte ? 2 : 1, half = c.depth / 2;
  const runs = (i: number) => k === 0 || i < k * unit || i >= c.depth - k * unit;
  const out = new Map<string, number>([['x_embedder', 2 * M * c.in_channels * p * p * D], ['t_embedder', 2 * batch * (256 * D + D * D)]]);
  if (c.num_classes > 0) out.set('y_embedder', 0); // a table lookup
  for (let i = 0; i < c.depth; i++) {
    if (!runs(i)) continue;
    // DiT: skip j fuses before block half + j; Latte: before the pair at half + 2j
    const j = latte ? (i - half) / 2 : i - half;
    if (c.skip && i >= half && Number.isInteger(j)) out.set(`skip_linears.${j}`, 2 * M * 2 * D * D);
    const temporal = latte && i % 2 === 1;
    out.set(`blocks.${i}`, temporal ? handBlock(c, batch, batch * T, F) : handBlock(c, batch, batch * F, T));
  }
  out.set('final_layer', 2 * batch * D * 2 * D + 2 * M * D * p * p * Cout);
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('describeModel: FLOPs', () => {
  const plainDit = normalizeConfig({ family: 'dit', skip: false, depth: 3, hidden_size: 48, num_heads: 3, patch_size: 4, input_size: 12, in_channels: 3, learn_sigma: false, num_classes: 7, mlp_ratio: 2.5 });
  for (const [label, config] of [['DiT-skip (fixture)', ditConfig], ['Latte-skip (fixture)', latteConfig], ['plain DiT', plainDit], ['Latte-XL/2-skip', presets['Latte-XL/2-skip']]] as const) {
    it(`${label}: every block and the total equal the hand formulas, at several batches`, () => {
      for (const batch of [1, 2, 5]) {
        const d = describeModel(config, batch);
        const expected = handBlocks(config, batch);
        expect(d.blocks.map((b) => b.name)).toEqual([...expected.keys()]);
        for (const b of d.blocks) expect(b.flops, b.name).toBe(expected.get(b.name));
        expect(d.flops).toBe(sum(expected));
        expect(forwardFlops(config, batch)).toBe(d.flops);
      }
    });
  }

  for (const [label, config] of [['DiT-skip', ditConfig], ['Latte-skip', latteConfig], ['DiT-XL/2-skip', presets['DiT-XL/2-skip']]] as const) {
    it(`${label}: skip pairs, units, and each cached branch's blocks and FLOPs`, () => {
      const batch = 2;
      const d = describeModel(config, batch);
      const latte = config.family === 'latte', unit = latte ? 2 : 1, half = config.depth / 2;
      expect(d.unitBlocks).toBe(unit);
      // DiT: block i pushes, block depth-1-i fuses; Latte: the temporal block of pair 2(n-1-j) pushes, pair half+2j fuses
      const pushedPairs = Math.ceil(half / 2);
      expect(d.skipPairs).toEqual(Array.from({ length: latte ? config.depth / 4 : half }, (_, j) =>
        latte ? [2 * (pushedPairs - 1 - j) + 1, half + 2 * j] : [j, config.depth - 1 - j]));
      const units = config.depth / unit;
      expect(d.cached.map((s) => s.branch)).toEqual(Array.from({ length: units / 2 }, (_, i) => i + 1));
      for (const s of d.cached) {
        expect(s.blocksExecuted, `k=${s.branch}`).toBe(2 * s.branch * unit);
        expect(s.flops, `k=${s.branch}`).toBe(sum(handBlocks(config, batch, s.branch)));
        expect(callFlops(config, batch, s.blocksExecuted)).toBe(s.flops);
      }
      // the largest branch keeps every unit: a cached call costs a full one
      expect(d.cached.at(-1)!.flops).toBe(d.flops);
      expect(callFlops(config, batch, config.depth)).toBe(d.flops);
    });
  }

  it('a plain model has no skip pairs, so bench offers it no Skip-Cache policy', () => {
    const plain = presets['DiT-XL/2'];
    expect(describeModel(plain).skipPairs).toEqual([]);
    expect(defaultPolicies(plain)).toEqual(['none']);
  });
});

describe('describeModel: inputs and memoisation', () => {
  it('is memoised per (config, batch), whatever the key order; the result is frozen', () => {
    const a = describeModel(ditConfig, 2);
    const reordered = Object.fromEntries(Object.entries(ditConfig).reverse()) as unknown as ModelConfig;
    expect(describeModel(reordered, 2)).toBe(a);
    expect(describeModel(ditConfig, 3)).not.toBe(a);
    expect(Object.isFrozen(a) && Object.isFrozen(a.params[0].shape) && Object.isFrozen(a.cached)).toBe(true);
    expect(describeModel('DiT-XL/2-skip')).toBe(describeModel(presets['DiT-XL/2-skip'], 1));
  });

  it('bad configs and batches are typed errors naming the parameter', () => {
    expect(() => describeModel(ditConfig, 0)).toThrow(InvalidArgumentError);
    expect(() => describeModel(ditConfig, 0)).toThrow(/Expected a positive integer \(at most 1e6\) for batch but received 0/);
    expect(() => describeModel(ditConfig, 1.5)).toThrow(/for batch but received 1\.5/);
    expect(() => describeModel(ditConfig, '2' as never)).toThrow(/for batch but received "2"/);
    expect(() => describeModel({ family: 'gpt' } as never)).toThrow(/'dit', 'latte' or 'latte-t2v' for config\.family/);
    expect(() => describeModel({ ...ditConfig, depth: 7 })).toThrow(/an even depth for DiT-skip for config\.depth but received 7/);
    expect(() => describeModel('DiT-XXL' as never)).toThrow(InvalidArgumentError);
    expect(() => callFlops(ditConfig, 1, 5)).toThrow(/Expected 8 \(a full call\) or the blocks of a cached call \(2, 4, 6, 8\) for blocksExecuted but received 5/);
  });

  it('the native entry point validates on its own (config through the shared conversion, batch)', () => {
    const describeNative = native().describeModel as (...args: unknown[]) => unknown;
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return `${(err as { code?: string }).code}: ${(err as Error).message}`;
      }
      return 'no error';
    };
    expect(code(() => describeNative(ditConfig, 0))).toMatch(/^SKIPDIT_INVALID_ARGUMENT: Expected a positive integer \(at most 1e6\) for batch but received 0/);
    expect(code(() => describeNative(ditConfig, 'x'))).toMatch(/^SKIPDIT_INVALID_ARGUMENT: .* for batch but received a non-number/);
    expect(code(() => describeNative(null))).toMatch(/^SKIPDIT_INVALID_ARGUMENT: Expected a config object for config/);
    // configs are validated in lib (normalizeConfig); natively an invalid one is an internal invariant, never a crash
    expect(code(() => describeNative({ ...ditConfig, depth: 7 }))).toMatch(/^SKIPDIT_INTERNAL: internal check failed: .*config\.depth: expected an even depth/);
    expect(code(() => describeNative({ ...ditConfig, family: 'unet' }))).toMatch(/^SKIPDIT_INVALID_ARGUMENT: Expected 'dit', 'latte', 'latte-t2v' or 'hunyuan-dit' for config\.family/);
    expect(code(() => describeNative(ditConfig))).toBe('no error'); // batch defaults to 1
  });
});
