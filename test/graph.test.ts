// The op-graph engine's recording and memory plan (native/graph/graph.cpp), on the forward graphs of real configs:
// no two intermediates that are alive together share a byte, the arena is the plan's reuse of memory (far below
// the sum of the intermediates), the structural hash is stable and tells shapes and variants apart, and a read of
// a value an in-place node has changed is refused when recorded.
import { describe, expect, it } from 'vitest';
import { normalizeConfig, presets } from '../lib/config.js';
import { describeModel } from '../lib/architecture.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';

const configs = {
  'DiT-XL/2-skip': normalizeConfig(presets['DiT-XL/2-skip']),
  'Latte-XL/2-skip': normalizeConfig(presets['Latte-XL/2-skip']),
  'plain DiT, odd sizes': normalizeConfig({ family: 'dit', skip: false, depth: 3, hidden_size: 48, num_heads: 3, patch_size: 4, input_size: 12, in_channels: 3, num_classes: 7, learn_sigma: false }),
  'unconditional Latte': normalizeConfig({ family: 'latte', skip: true, depth: 8, hidden_size: 40, num_heads: 5, patch_size: 3, input_size: 9, in_channels: 5, num_classes: 0, num_frames: 5 }),
};

describe.skipIf(testAddonSkip)(`op graph plan${testAddonNote}`, () => {
  for (const [name, config] of Object.entries(configs)) {
    for (const variant of config.skip ? (['full', 'cached'] as const) : (['full'] as const)) {
      it(`${name} ${variant}: live intermediates never share bytes, the arena reuses memory`, () => {
        const p = testNative().graphPlan(config, 2, variant);
        expect(p.overlaps).toBe(0);
        expect(p.outside).toBe(0);
        expect(p.intermediates).toBeGreaterThan(10);
        expect(p.arenaBytes).toBeLessThan(p.valueBytes);
        if (config.depth >= 8) expect(p.arenaBytes).toBeLessThan(p.valueBytes / 4);
        // the graph's FLOPs are describe()'s (the same recording)
        const d = describeModel(config, 2);
        expect(p.flops).toBe(variant === 'full' ? d.flops : d.cached[0].flops);
      });
    }
  }

  it('the structural hash is deterministic and differs between shapes and variants', () => {
    const c = configs['DiT-XL/2-skip'];
    const a = testNative().graphPlan(c, 2, 'full'), b = testNative().graphPlan(c, 2, 'full');
    expect(a.hash).toBe(b.hash);
    expect(testNative().graphPlan(c, 4, 'full').hash).not.toBe(a.hash);
    expect(testNative().graphPlan(c, 2, 'cached').hash).not.toBe(a.hash);
  });

  it('reading a value after an in-place node changed its memory is refused when recorded', () => {
    expect(() => testNative().graphStaleRead()).toThrow(/overwritten by an in-place node/);
  });
});
