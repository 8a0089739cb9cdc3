// The forward pass against the golden vectors of the official implementation (relative error <= 1e-5).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../lib/index.js';
import { relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';
import type { StTensor } from './helpers/safetensors.js';

const TOL = 1e-5;
const report: string[] = [];
afterAll(() => console.log('\nfixture max relative errors (max|a-b|/max|b|):\n' + report.join('\n')));

function checkError(label: string, err: number) {
  report.push(`  ${label.padEnd(48)} ${err.toExponential(2)}`);
  expect(err, label).toBeLessThanOrEqual(TOL);
}

function check(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>) {
  checkError(label, relErr(actual, expected));
}

const tapNames: Record<string, string[]> = {
  'dit-skip-tiny': ['t_freq', 't_emb', 'y_emb', 'tokens', 'blocks_out', 'skip_fused', 'final_tokens'],
  'latte-skip-tiny': ['t_freq', 't_emb', 'y_emb', 'tokens', 'spatial_out', 'temporal_out', 'skip_fused', 'final_tokens'],
};

for (const name of ['dit-skip-tiny', 'latte-skip-tiny'] as const) {
  describe(name, () => {
    let model: Model;
    let cases: Record<string, StTensor>;
    beforeAll(async () => {
      model = await loadModel(fixturePath(name, 'model.safetensors'), { backend: 'cpu' });
      cases = loadCases(name);
    });
    afterAll(() => model?.dispose());

    it('reads its config from the file metadata', () => {
      expect(model.config.family).toBe(name.startsWith('dit') ? 'dit' : 'latte');
      expect(model.config.skip).toBe(true);
      expect(model.config.hidden_size).toBe(64);
      expect(model.config.depth).toBe(8);
    });

    it('forward output and every intermediate tap', async () => {
      const x = cases['forward.x'];
      const r = await model.forward({ x: { data: f32(x), shape: x.shape }, t: f32(cases['forward.t']), y: ints(cases['forward.y']) }, { taps: true });
      expect(r.shape).toEqual(cases['forward.out'].shape);
      check(`${name} forward.out`, r.data, f32(cases['forward.out']));
      for (const tap of tapNames[name]) {
        const expected = cases[`forward.tap_${tap}`];
        expect(r.taps?.[tap]?.shape, tap).toEqual(expected.shape);
        check(`${name} forward.tap_${tap}`, r.taps![tap].data, f32(expected));
      }
    });

    it('forward_with_cfg (official channel rule) and its raw batched output', async () => {
      const x = cases['cfg.x'];
      const r = await model.forwardWithCfg(
        { x: { data: f32(x), shape: x.shape }, t: f32(cases['cfg.t']), y: ints(cases['cfg.y']), cfgScale: f32(cases['cfg.cfg_scale'])[0] },
        { taps: true },
      );
      check(`${name} cfg.out`, r.data, f32(cases['cfg.out']));
      check(`${name} cfg.out_raw`, r.taps!.cfg_raw.data, f32(cases['cfg.out_raw']));
    });

    // Teacher-forced sampler trajectories: every step's model call from the stored x_in[j].
    const samplerCases = name === 'dit-skip-tiny' ? ['ddim', 'ddpm'] : ['ddim'];
    for (const c of samplerCases) {
      it(`${c}: CFG model output at every step from the stored x_in`, async () => {
        const xin = cases[`${c}.x_in`];
        const steps = xin.shape[0];
        const ts = ints(cases[`${c}.timesteps`]);
        const y = ints(cases[`${c}.y`]);
        const scale = f32(cases[`${c}.cfg_scale`])[0];
        let worst = 0;
        for (let j = 0; j < steps; j++) {
          const r = await model.forwardWithCfg({ x: { data: slice(f32(xin), xin.shape, j), shape: xin.shape.slice(1) }, t: ts[j], y, cfgScale: scale });
          const expected = slice(f32(cases[`${c}.model_out`]), cases[`${c}.model_out`].shape, j);
          worst = Math.max(worst, relErr(r.data, expected));
        }
        checkError(`${name} ${c}.model_out (worst of ${steps} steps)`, worst);
      });
    }

    const seqCases = name === 'dit-skip-tiny' ? ['cacheseq_n2_k4', 'cacheseq_n3_k1_s700_e50'] : ['cacheseq'];
    for (const c of seqCases) {
      it(`${c}: uncached forward (out_if_full) at every timestep`, async () => {
        const xs = cases[`${c}.x`];
        const ts = ints(cases[`${c}.t`]);
        const y = ints(cases[`${c}.y`]);
        let worst = 0;
        for (let j = 0; j < ts.length; j++) {
          const r = await model.forward({ x: { data: slice(f32(xs), xs.shape, j), shape: xs.shape.slice(1) }, t: ts[j], y });
          worst = Math.max(worst, relErr(r.data, slice(f32(cases[`${c}.out_if_full`]), cases[`${c}.out_if_full`].shape, j)));
        }
        checkError(`${name} ${c}.out_if_full (worst of ${ts.length} calls)`, worst);
      });
    }
  });
}
