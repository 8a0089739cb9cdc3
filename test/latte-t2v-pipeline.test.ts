// The text-to-video pipeline (official LattePipeline + LatteT2V_skip_cache) against the latte-t2v-skip-tiny fixture:
// the CFG step ([uncond, cond], all channels guided, eps = the first C), diffusers DDIM, the official text truncation,
// the Skip-Cache rule of sample_t2v.py (N<gap>-<start>-<stop>, branch 1, stop inclusive). Per step teacher-forced
// <= 1e-5 relative, free-running <= 1e-4, full/cached patterns exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline, forwardFlops, loadModel, resolveCachePolicy, type Model } from '../lib/index.js';
import { officialTextStates } from '../lib/t2v-text.js';
import { errorReport, relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases, tensor } from './helpers/fixtures.js';
import type { StTensor } from './helpers/safetensors.js';

const NAME = 'latte-t2v-skip-tiny';
const STEP_TOL = 1e-5;
const RUN_TOL = 1e-4;
const CONFIG = { num_frames: 3 };
const { check, lines: report } = errorReport('latte-t2v pipeline', STEP_TOL, 40);

const doubled = (x: Float32Array, shape: number[]) => {
  const out = new Float32Array(2 * x.length);
  out.set(x);
  out.set(x, x.length);
  return { data: out, shape: [2, ...shape.slice(1)] };
};

describe('latte-t2v pipeline', () => {
  let model: Model;
  let cases: Record<string, StTensor>;
  beforeAll(async () => {
    model = await loadModel(fixturePath(NAME, 'model.safetensors'), { backend: 'cpu', config: CONFIG });
    cases = loadCases(NAME);
  });
  afterAll(() => model?.dispose());

  /** init() inputs of a pipeline case: the prompt's and the negative prompt's T5 states with their masks. */
  const textOf = (name: string) => ({
    text: [{ states: tensor(cases[`${name}.prompt_t5`]), mask: { data: ints(cases[`${name}.prompt_mask`]), shape: cases[`${name}.prompt_mask`].shape } }],
    negativeText: [{ states: tensor(cases[`${name}.negative_t5`]), mask: { data: ints(cases[`${name}.negative_mask`]), shape: cases[`${name}.negative_mask`].shape } }],
  });

  it('the official truncation: [negative[:keep], prompt[:keep]] for one prompt', () => {
    for (const name of ['cfg', 'ddim']) {
      const { text, negativeText } = textOf(name);
      const states = officialTextStates(text, negativeText, 32);
      expect(states.shape).toEqual(cases[`${name}.encoder_hidden_states`].shape);
      expect(Array.from(states.data)).toEqual(Array.from(f32(cases[`${name}.encoder_hidden_states`])));
    }
  });

  it('several prompts: states x mask, all rows kept; the negatives whole', () => {
    const L = 4, D = 2;
    const p = (v: number, mask: number[]) => ({ states: { data: new Float32Array(L * D).fill(v), shape: [L, D] }, mask: { data: mask, shape: [L] } });
    const s = officialTextStates([p(1, [1, 1, 0, 0]), p(2, [1, 0, 0, 0])], [p(3, [1, 0, 0, 0]), p(4, [1, 0, 0, 0])], D);
    expect(s.shape).toEqual([4, L, D]);
    expect(Array.from(s.data)).toEqual([...Array(8).fill(3), ...Array(8).fill(4), 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0]);
  });

  it('forwardWithCfg: [uncond, cond] rows, every channel guided', async () => {
    const x = doubled(f32(cases['cfg.x_in']), cases['cfg.z'].shape);
    const text = tensor(cases['cfg.encoder_hidden_states']);
    const t = ints(cases['cfg.timesteps'])[0];
    const raw = await model.forward({ x, t, text });
    check('cfg.out_raw', raw.data, f32(cases['cfg.out_raw']));
    const guided = await model.forwardWithCfg({ x, t, text, cfgScale: f32(cases['cfg.guidance_scale'])[0] });
    const [, C2, F, H, W] = guided.shape;
    const eps = guided.data.slice(0, (C2 / 2) * F * H * W);
    check('cfg.eps', eps, f32(cases['cfg.eps']));
    // both halves hold the guided output
    expect(Array.from(guided.data.slice(0, guided.data.length / 2))).toEqual(Array.from(guided.data.slice(guided.data.length / 2)));
  });

  /** A pipeline run of case `name`: free-running from z, then every step teacher-forced from x_in[j]. */
  async function runCase(name: string, cache: false | string) {
    const steps = cases[`${name}.timesteps`].shape[0];
    const timesteps = ints(cases[`${name}.timesteps`]);
    const stepsOffset = name === 'cfg' ? timesteps[0] : 0;
    const scale = f32(cases[`${name}.guidance_scale`])[0];
    const pipe = new Pipeline(model, { steps, cfgScale: scale, stepsOffset, cache: cache === false ? false : (cache as 'N2-700-50') });
    expect(pipe.timesteps).toEqual(timesteps);
    const z = tensor(cases[`${name}.z`]);
    pipe.init({ ...textOf(name), noise: z });
    const sample = await pipe.run();
    check(`${name}.sample (free-running)`, sample.data, f32(cases[`${name}.sample`]), RUN_TOL);
    const pattern = pipe.history.map((s) => (s.cached ? 0 : 1));
    // teacher-forced: each step from the official x_in[j]
    pipe.init({ ...textOf(name), noise: z });
    const xIn = cases[`${name}.x_in`], xOut = cases[`${name}.x_out`];
    for (let j = 0; j < steps; j++) {
      pipe.latents = doubled(slice(f32(xIn), xIn.shape, j), z.shape);
      await pipe.step();
      check(`${name}.x_out[${j}]`, pipe.samples.data, slice(f32(xOut), xOut.shape, j));
    }
    return pattern;
  }

  it('cfg: one step at t = 537 (steps_offset), x_out = pred_x0', async () => {
    await runCase('cfg', false);
  });

  it('ddim: 8 steps of diffusers DDIM with CFG 7.5', async () => {
    const pattern = await runCase('ddim', false);
    expect(pattern).toEqual(Array(8).fill(1));
  });

  it('ddim_cache: N2-750-250 gives the official full/cached pattern and trajectory', async () => {
    const pattern = await runCase('ddim_cache', 'N2-750-250');
    expect(pattern).toEqual(ints(cases['ddim_cache.full_step']));
  });

  it('cacheseq: the state machine on O(1) inputs (start >= inclusive, stop <= inclusive, reset after the call)', async () => {
    const cache = model.createCache('N2-750-250');
    const x = cases['cacheseq.x'], out = cases['cacheseq.out'], full = ints(cases['cacheseq.full_step']);
    const t = ints(cases['cacheseq.t']);
    const text = tensor(cases['cacheseq.encoder_hidden_states']);
    for (let j = 0; j < t.length; j++) {
      const r = await model.forward({ x: { data: slice(f32(x), x.shape, j), shape: x.shape.slice(1) }, t: t[j], text }, { cache });
      expect(r.cached ? 0 : 1, `call ${j} (t = ${t[j]})`).toBe(full[j]);
      check(`cacheseq.out[${j}]`, r.data, slice(f32(out), out.shape, j));
    }
  });

  it("the official 50-step N2-700-50 pattern: 33 full, 17 cached", async () => {
    const official = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1];
    const { text, negativeText } = textOf('ddim');
    const pipe = new Pipeline(model, { steps: 50, cfgScale: 7.5, cache: 'N2-700-50' });
    pipe.init({ text, negativeText, frames: 1, seed: 3 }); // one frame: the schedule is the same, the run is cheaper
    await pipe.run();
    expect(pipe.history.map((s) => (s.cached ? 0 : 1))).toEqual(official);
    expect(pipe.cacheStats).toMatchObject({ fullSteps: 33, cachedSteps: 17 });
    // FLOPs of this run's calls: one frame, not the model's num_frames
    expect(pipe.cacheStats.flopsUncached).toBe(50 * forwardFlops({ ...model.config, num_frames: 1 }, 2));
  });

  it('forward with per-row text [{ states, mask }] equals the stacked tensor and textMask', async () => {
    const x = tensor(cases['forward_mask.x']);
    const t = ints(cases['forward_mask.t']);
    const states = f32(cases['forward_mask.encoder_hidden_states']), mask = Float32Array.from(ints(cases['forward_mask.encoder_attention_mask']));
    const [B, L, D] = cases['forward_mask.encoder_hidden_states'].shape;
    const rows = Array.from({ length: B }, (_, b) => ({
      states: { data: states.slice(b * L * D, (b + 1) * L * D), shape: [L, D] }, mask: { data: mask.slice(b * L, (b + 1) * L), shape: [L] },
    }));
    const r = await model.forward({ x, t, text: rows });
    check('forward_mask.out (per-row text)', r.data, f32(cases['forward_mask.out']));
    await expect(model.forward({ x, t, text: rows.slice(1) })).rejects.toThrow(/text/);
  });

  it('bf16 weights on CPU: the forward and a CFG step within bf16 accuracy; bf16 operands stored rounded change no bit', async () => {
    const run = async (operands?: string) => {
      if (operands !== undefined) process.env.SKIPDIT_CPU_BF16_OPERANDS = operands;
      const m = await loadModel(fixturePath(NAME, 'model.safetensors'), { backend: 'cpu', dtype: 'bfloat16', config: CONFIG });
      delete process.env.SKIPDIT_CPU_BF16_OPERANDS;
      try {
        const out = await m.forward({ x: tensor(cases['forward.x']), t: ints(cases['forward.t']), text: tensor(cases['forward.encoder_hidden_states']) });
        const x = doubled(f32(cases['cfg.x_in']), cases['cfg.z'].shape);
        const cfg = await m.forwardWithCfg({ x, t: ints(cases['cfg.timesteps'])[0], text: tensor(cases['cfg.encoder_hidden_states']), cfgScale: 7.5 });
        return { out: out.data, cfg: cfg.data };
      } finally {
        m.dispose();
      }
    };
    const bf16 = await run();
    const err = relErr(bf16.out, f32(cases['forward.out']));
    report.push(`  ${'forward.out, bf16 weights (info)'.padEnd(40)} ${err.toExponential(2)}`);
    expect(err).toBeGreaterThan(1e-6); // really computed in bf16
    expect(err).toBeLessThan(2e-2);
    const eps = f32(cases['cfg.eps']); // the guided eps: the first C channels of the (uncond-first) CFG output
    const epsErr = relErr(bf16.cfg.subarray(0, eps.length), eps);
    report.push(`  ${'cfg.eps, bf16 weights (info)'.padEnd(40)} ${epsErr.toExponential(2)}`);
    expect(epsErr).toBeLessThan(5e-2);
    const float = await run('0');
    expect(Buffer.from(bf16.out.buffer).equals(Buffer.from(float.out.buffer))).toBe(true);
  });

  it("'N<gap>-<start>-<stop>' means sample_t2v.py's rule", () => {
    expect(resolveCachePolicy('N2-700-50')).toEqual({ interval: 2, branch: 1, start: 700, stop: 50, stopInclusive: true, fullWhenEmpty: true });
    expect(resolveCachePolicy('N3-800-100')).toMatchObject({ interval: 3, start: 800, stop: 100 });
    expect(() => resolveCachePolicy('N0-700-50')).toThrow(InvalidArgumentError);
    expect(() => resolveCachePolicy('N2-700')).toThrow(InvalidArgumentError);
  });

  it('bad input: typed errors, and the pipeline stays usable', async () => {
    const { text, negativeText } = textOf('ddim');
    const pipe = new Pipeline(model, { steps: 2, cfgScale: 7.5 });
    expect(() => pipe.init({ text })).toThrow(/negativeText/);
    expect(() => pipe.init({ text, negativeText, frames: 2 })).toThrow(/frames/);
    expect(() => pipe.init({ prompts: ['a cat'] })).toThrow(/textEncoder/);
    expect(() => pipe.init({ text, negativeText, prompts: ['x'] })).toThrow(InvalidArgumentError);
    expect(() => pipe.init({ text: [{ states: { data: new Float32Array(120 * 16), shape: [120, 16] } }], negativeText })).toThrow(/states\.shape/);
    expect(() => pipe.init({ text, negativeText, labels: [1] })).toThrow(/labels/);
    expect(() => new Pipeline(model, { sampler: 'ddpm' })).toThrow(/sampler/);
    expect(() => new Pipeline(model, { eta: 0.5 })).toThrow(/eta/);
    expect(() => new Pipeline(model, { steps: 'ddim25' })).toThrow(/steps/);
    expect(() => new Pipeline(model, { timestepSpacing: 'middle' as 'leading' })).toThrow(/timestepSpacing/);
    pipe.init({ text, negativeText, seed: 1 });
    const out = await pipe.run();
    expect(out.shape).toEqual([1, 4, 3, 8, 8]);
    expect(out.data.every(Number.isFinite)).toBe(true);
  });
});
