// The CUDA backend against the CPU backend and the golden fixtures. Skipped, with the reason printed,
// where backends()[1].available is false (no GPU, no driver, or a build without nvcc); run on a GPU
// machine by `npm run test:gpu` (scripts/test-gpu.sh).
//
// Tolerances (docs/cuda.md explains them):
// - float32: every op within 2e-5 of the CPU twin (max|a-b| / max|b|), fixture forwards within 1e-4.
// - bfloat16 / float16 ops (runOp of the test addon, float32 tensors): only the GEMMs (linear, fused gated linear, conv)
//   change: they round x and w to the weight type and accumulate in fp32 (each block tile of the tensor-core
//   kernel is checked: SKIPDIT_CUDA_GEMM_TILE). Their bound is 2x the error of the
//   same rounding done on the CPU (inputs rounded in JS, CPU float32 op) plus 1e-5 - the flash-attention rule
//   "at most ~2x the error of the same math in that precision". Attention on activation-typed qkv (act = 1):
//   2x the error of the same math emulated in JS (qkv rounded; on the tensor-core kernel the probabilities
//   rounded before P V; the output rounded), for the tensor-core kernel and the forced SIMT one. Other
//   activation-typed ops (sdpa, rms_norm, rope_2d, ...): 2x the error of their case's lowPrecision emulation
//   (activation inputs and output rounded, float32 math).
// - sampler_update (the DDIM / DDPM step) is bit-identical to the CPU twin and to lib/samplers.ts; a whole
//   Pipeline run with the latents on the device is within the float32 fixture tolerance of the CPU run, and
//   bit-identical with and without CUDA graphs.
// - bfloat16 / float16 fixture forwards (token activations stored in that type between ops): bounded by 2x
//   the error of the same math emulated in JS (test/reference/model.ts with the rounding of every GEMM
//   operand and every stored token activation) against the golden vectors, plus the float32 tolerance; the
//   residual-stream tap must be exactly representable in that type (proof it was stored in it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pipeline, backends, loadModel, loadVae, type Model, type PipelineOptions } from '../lib/index.js';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';
import { bits, randn, relErr, slice } from './helpers/compare.js';
import { f32, fixturePath, fixturesDir, ints, loadCases, loadFixtureModel } from './helpers/fixtures.js';
import { opCases, roundF16, runOpCase } from './helpers/op-cases.js';
import { referenceForward } from './reference/model.js';
import { referenceVaeDecode } from './reference/vae.js';
import { readSafetensors } from './helpers/safetensors.js';
import { attention as referenceAttention, roundBf16 } from './reference/ops.js';
import { FIXTURE_TOL_CUDA_F32, OP_TOL_CUDA_F32 } from './helpers/tolerances.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const cuda = backends()[1];
const skipReason = cuda.available ? '' : `no usable CUDA device: ${cuda.reason}`;
if (!cuda.available) console.log(`test/cuda.test.ts skipped - ${skipReason}`);
const dtypes = ['float32', 'bfloat16', 'float16'] as const;
const OP_TOL_F32 = OP_TOL_CUDA_F32;
const FIXTURE_TOL_F32 = FIXTURE_TOL_CUDA_F32;
const report: string[] = [];
afterAll(() => { if (report.length) console.log('\nCUDA vs reference (max relative error / bound):\n' + report.join('\n')); });

function within(label: string, err: number, bound: number) {
  report.push(`  ${label.padEnd(64)} ${err.toExponential(2)} / ${bound.toExponential(2)}`);
  expect(err, label).toBeLessThanOrEqual(bound);
}

describe.skipIf(!cuda.available)(`CUDA backend${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  describe.skipIf(testAddonSkip)(`every op against its CPU twin (runOp, test addon)${testAddonNote}`, () => {
    for (const c of opCases()) {
      for (const dtype of c.weighted || c.activation ? dtypes : (['float32'] as const)) {
        // bf16 / fp16: every tensor-core GEMM tile (forced), and for activation-typed attention the
        // tensor-core kernel and, forced, the SIMT one
        const low = dtype !== 'float32';
        const kernels = low && c.activation && c.op === 'attention' ? (['tensor cores', 'simt'] as const)
          : low && c.weighted ? (['128x128', '64x128', '64x64'] as const) : ([''] as const);
        for (const kernel of kernels) {
          it(`${c.op} ${c.label} ${dtype}${kernel ? ` (${kernel})` : ''}`, () => {
            if (kernel === 'simt') process.env.SKIPDIT_CUDA_ATTENTION = 'simt';
            if (kernel.includes('x')) process.env.SKIPDIT_CUDA_GEMM_TILE = kernel;
            try {
              const ref = runOpCase('cpu', 'float32', c.op, c.args);
              const got = runOpCase('cuda', dtype, c.op, c.args);
              expect(got.every(Number.isFinite), 'finite').toBe(true);
              if (c.exact) expect(bits(got), 'bit-identical to the CPU twin').toEqual(bits(ref));
              if (dtype === 'float32') return within(`${c.op} ${c.label} f32`, relErr(got, ref), OP_TOL_F32);
              const round = dtype === 'bfloat16' ? roundBf16 : roundF16;
              let sameMath: number;
              if (c.lowPrecision) {
                sameMath = relErr(c.lowPrecision(round), ref); // the case's own emulation of that precision
              } else if (c.activation) {
                // the same math in that precision: qkv rounded, probabilities rounded on the tensor-core path
                // (head dims it takes), the output rounded where it is stored
                const a = c.args as { G: number; N: number; H: number; hd: number; qkv: Float32Array };
                const tc = kernel === 'tensor cores' && a.hd % 8 === 0 && a.hd <= 128;
                sameMath = relErr(round(referenceAttention(round(a.qkv), a.G, a.N, a.H, a.hd, tc ? round : undefined)), ref);
              } else {
                const rounded = { ...c.args, x: round(c.args.x as Float32Array), w: round(c.args.w as Float32Array) };
                sameMath = relErr(runOpCase('cpu', 'float32', c.op, rounded), ref);
              }
              within(`${c.op} ${c.label} ${dtype}${kernel ? ` ${kernel}` : ''}`, relErr(got, ref), 2 * sameMath + 1e-5);
            } finally {
              delete process.env.SKIPDIT_CUDA_ATTENTION;
              delete process.env.SKIPDIT_CUDA_GEMM_TILE;
            }
          });
        }
      }
    }
  });

  for (const name of ['dit-skip-tiny', 'latte-skip-tiny'] as const) {
    describe(`${name} fixture`, () => {
      const cases = loadCases(name);
      const input = (x = cases['forward.x']) => ({ x: { data: f32(x), shape: x.shape }, t: f32(cases['forward.t']), y: ints(cases['forward.y']) });
      const sameMathErr: Record<string, number> = {};
      beforeAll(() => {
        const { config, weights } = loadFixtureModel(name);
        const y = cases['forward.y'] ? ints(cases['forward.y']) : null;
        for (const [dtype, round] of [['bfloat16', roundBf16], ['float16', roundF16]] as const) {
          const emulated = referenceForward(config, weights, f32(cases['forward.x']), Array.from(f32(cases['forward.t'])), y, round);
          sameMathErr[dtype] = relErr(emulated, f32(cases['forward.out']));
        }
      });
      const bound = (dtype: string) => (dtype === 'float32' ? FIXTURE_TOL_F32 : 2 * sameMathErr[dtype] + FIXTURE_TOL_F32);

      for (const dtype of dtypes) {
        it(`forward output and taps, ${dtype}`, async () => {
          const model = await loadModel(fixturePath(name, 'model.safetensors'), { backend: 'cuda', dtype });
          expect(model.backend).toBe('cuda');
          const r = await model.forward(input(), { taps: true });
          within(`${name} forward.out ${dtype}`, relErr(r.data, f32(cases['forward.out'])), bound(dtype));
          if (dtype === 'float32') {
            for (const [tap, t] of Object.entries(r.taps ?? {})) {
              const expected = cases[`forward.tap_${tap}`];
              if (expected) within(`${name} tap ${tap}`, relErr(t.data, f32(expected)), FIXTURE_TOL_F32);
            }
          } else {
            const h = r.taps?.[name.startsWith('dit') ? 'blocks_out' : 'temporal_out'];
            expect(h, 'residual-stream tap').toBeDefined();
            const round = dtype === 'bfloat16' ? roundBf16 : roundF16;
            expect(relErr(round(h!.data), h!.data), `${dtype} activations are stored in ${dtype}`).toBe(0);
          }
          model.dispose();
        });
      }

      it('forward_with_cfg, float32', async () => {
        const model = await loadModel(fixturePath(name, 'model.safetensors'), { backend: 'cuda' });
        const x = cases['cfg.x'];
        const r = await model.forwardWithCfg({ x: { data: f32(x), shape: x.shape }, t: f32(cases['cfg.t']), y: ints(cases['cfg.y']), cfgScale: f32(cases['cfg.cfg_scale'])[0] });
        within(`${name} cfg.out`, relErr(r.data, f32(cases['cfg.out'])), FIXTURE_TOL_F32);
        model.dispose();
      });

      it('a Skip-Cache sequence: the same full/cached pattern and outputs as the CPU, feature kept on the device', async () => {
        const seq = name === 'dit-skip-tiny' ? 'cacheseq_n2_k4' : 'cacheseq';
        const xs = cases[`${seq}.x`], ts = ints(cases[`${seq}.t`]), y = ints(cases[`${seq}.y`]);
        const run = async (backend: 'cpu' | 'cuda') => {
          const model = await loadModel(fixturePath(name, 'model.safetensors'), { backend });
          const cache = model.createCache({ interval: 2, branch: 1 });
          const outs: { data: Float32Array; cached: boolean }[] = [];
          for (let j = 0; j < ts.length; j++) {
            const r = await model.forward({ x: { data: slice(f32(xs), xs.shape, j), shape: xs.shape.slice(1) }, t: ts[j], y }, { cache });
            outs.push({ data: r.data, cached: r.cached });
          }
          model.dispose();
          return outs;
        };
        const [cpu, gpu] = [await run('cpu'), await run('cuda')];
        expect(gpu.map((o) => o.cached)).toEqual(cpu.map((o) => o.cached));
        expect(gpu.some((o) => o.cached)).toBe(true);
        within(`${name} ${seq} cached sequence vs cpu`, Math.max(...gpu.map((o, j) => relErr(o.data, cpu[j].data))), FIXTURE_TOL_F32);
      });
    });
  }

  // CUDA graphs (docs/cuda.md): per key (model, input shape, workspace generation, cache state) the 1st call
  // is eager, the 2nd is captured and launched, later ones replay. Fresh inputs every call: the staged x / t / y must reach the graph.
  for (const name of ['dit-skip-tiny', 'latte-skip-tiny'] as const) {
    for (const dtype of ['float32', 'bfloat16'] as const) {
      it(`CUDA graph replay equals eager output exactly: ${name} ${dtype}, plain and Skip-Cache calls`, async () => {
        const cases = loadCases(name);
        const shape = cases['forward.x'].shape, y = ints(cases['forward.y']);
        const n = shape.reduce((a, b) => a * b, 1);
        const run = async (graphs: boolean) => {
          process.env.SKIPDIT_CUDA_GRAPHS = graphs ? '1' : '0';
          try {
            const model = await loadModel(fixturePath(name, 'model.safetensors'), { backend: 'cuda', dtype });
            const call = (j: number, cache?: ReturnType<Model['createCache']>) =>
              model.forward({ x: { data: randn(n, 100 + j), shape }, t: new Array(shape[0]).fill(950 - 60 * j), y }, cache ? { cache } : {});
            const outs = [];
            for (let j = 0; j < 5; j++) outs.push(await call(j));
            const cache = model.createCache({ interval: 2, branch: 1 });
            for (let j = 0; j < 8; j++) outs.push(await call(j, cache));
            model.dispose();
            return outs;
          } finally {
            delete process.env.SKIPDIT_CUDA_GRAPHS;
          }
        };
        const [eager, graphed] = [await run(false), await run(true)];
        expect(eager.map((o) => o.graph)).toEqual(eager.map(() => false));
        // A graph's key is its structural hash and the device memory bound to it (arena, cache feature). plain: the
        // first call is the key's eager run (it allocates the arena), then capture, replays. Cached sequence (full
        // and cached calls alternate, two graphs, the feature allocated before the first full call): each graph
        // eager once, then captured, then replayed.
        expect(graphed.map((o) => o.graph)).toEqual([false, true, true, true, true, false, false, true, true, true, true, true, true]);
        expect(graphed.map((o) => o.cached)).toEqual(eager.map((o) => o.cached));
        for (let j = 0; j < eager.length; j++) {
          const same = graphed[j].data.every((v, i) => Object.is(v, eager[j].data[i]));
          expect(same, `call ${j}: graph output bit-identical to eager`).toBe(true);
        }
        expect(relErr(graphed[1].data, graphed[2].data), 'different inputs give different outputs').toBeGreaterThan(0);
      });
    }
  }

  // (A profiling decorator around the backend once dropped its graph regions: a profiled CUDA model never used graphs.)
  it('a profiled CUDA model records and replays graphs like an unprofiled one, with the same bits; launches are profiled', async () => {
    const cases = loadCases('dit-skip-tiny');
    const shape = cases['forward.x'].shape, y = ints(cases['forward.y']);
    const n = shape.reduce((a, b) => a * b, 1);
    const run = async (profile: boolean) => {
      const model = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'), { backend: 'cuda', profile });
      const outs = [];
      for (let j = 0; j < 5; j++) outs.push(await model.forward({ x: { data: randn(n, 300 + j), shape }, t: new Array(shape[0]).fill(900 - 50 * j), y }));
      const ops = model.profile()?.ops ?? [];
      model.dispose();
      return { outs, ops };
    };
    const [plain, profiled] = [await run(false), await run(true)];
    expect(profiled.outs.map((o) => o.graph)).toEqual(plain.outs.map((o) => o.graph));
    expect(profiled.outs.some((o) => o.graph)).toBe(true);
    for (let j = 0; j < plain.outs.length; j++) expect(bits(profiled.outs[j].data)).toEqual(bits(plain.outs[j].data));
    expect(profiled.ops.find((o) => o.op === 'graph_launch')?.calls).toBe(profiled.outs.filter((o) => o.graph).length);
  });

  // Latents on the device (model.sampleStep): the forward, the guidance and the sampler update never leave it.
  for (const name of ['dit-skip-tiny', 'latte-skip-tiny'] as const) {
    it(`Pipeline with device-resident latents: ${name}, CPU vs CUDA, graphs vs eager, no download per step`, async () => {
      const options: PipelineOptions = name === 'dit-skip-tiny'
        ? { steps: 8, cfgScale: 4, cache: 'dit:2:1' }
        : { steps: 8, cfgScale: 3, cache: 'latte', sampler: 'ddpm' };
      // profile: counts the downloads (the profiler observes graph runs; it does not change how they run).
      const run = async (backend: 'cpu' | 'cuda', dtype: 'float32' | 'bfloat16', graphs = true, profile = false) => {
        process.env.SKIPDIT_CUDA_GRAPHS = graphs ? '1' : '0';
        try {
          const model = await loadModel(fixturePath(name, 'model.safetensors'), { backend, dtype, profile });
          const pipe = new Pipeline(model, options).init({ labels: [1, 3], seed: 4 });
          while (!pipe.done) await pipe.step();
          const downloads = profile ? model.profile()!.ops.find((o) => o.op === 'download')?.calls ?? 0 : NaN;
          const result = { data: pipe.samples.data, graphSteps: pipe.history.filter((s) => s.graph).length, downloads };
          pipe.dispose();
          model.dispose();
          return result;
        } finally {
          delete process.env.SKIPDIT_CUDA_GRAPHS;
        }
      };
      const cpu = await run('cpu', 'float32');
      const gpu = await run('cuda', 'float32');
      within(`${name} Pipeline 8 steps, CUDA f32 vs CPU`, relErr(gpu.data, cpu.data), FIXTURE_TOL_F32);
      expect(gpu.graphSteps, 'steps replayed as graphs').toBeGreaterThan(0);
      const profiled = await run('cuda', 'float32', true, true);
      expect(profiled.downloads, 'no download while stepping').toBe(0);
      expect(bits(profiled.data), 'profiled (eager) run').toEqual(bits(gpu.data));
      for (const dtype of ['float32', 'bfloat16'] as const) {
        const graphed = dtype === 'float32' ? gpu : await run('cuda', dtype);
        const eager = await run('cuda', dtype, false);
        expect(eager.graphSteps).toBe(0);
        expect(bits(graphed.data), `${dtype}: graphs bit-identical to eager`).toEqual(bits(eager.data));
        if (dtype === 'bfloat16') report.push(`  ${`${name} Pipeline 8 steps, CUDA bf16 vs CPU f32 (info)`.padEnd(64)} ${relErr(graphed.data, cpu.data).toExponential(2)}`);
      }
    });
  }

  // LatteT2V (text-to-video): the fixture forward, and the official 8-step DDIM run with N2-750-250 through a
  // Pipeline (text states, [uncond, cond] CFG, diffusers DDIM as a native update) with the latents on the device.
  describe('latte-t2v-skip-tiny fixture', () => {
    const T2V = 'latte-t2v-skip-tiny';
    const config = { num_frames: 3 };
    const cases = loadCases(T2V);
    const tensor = (name: string) => ({ data: f32(cases[name]), shape: cases[name].shape });
    for (const dtype of dtypes) {
      it(`forward, ${dtype}`, async () => {
        const model = await loadModel(fixturePath(T2V, 'model.safetensors'), { backend: 'cuda', dtype, config });
        try {
          const r = await model.forward({ x: tensor('forward.x'), t: ints(cases['forward.t']), text: tensor('forward.encoder_hidden_states') });
          const err = relErr(r.data, f32(cases['forward.out']));
          if (dtype === 'float32') within('latte-t2v forward, CUDA f32', err, FIXTURE_TOL_F32);
          else report.push(`  ${`latte-t2v forward, CUDA ${dtype} (info)`.padEnd(64)} ${err.toExponential(2)}`);
        } finally {
          model.dispose();
        }
      });
    }
    it('Pipeline ddim_cache (N2-750-250): the official pattern and samples, graphs bit-identical to eager, no download per step', async () => {
      const text = [{ states: tensor('ddim_cache.prompt_t5'), mask: { data: ints(cases['ddim_cache.prompt_mask']), shape: cases['ddim_cache.prompt_mask'].shape } }];
      const negativeText = [{ states: tensor('ddim_cache.negative_t5'), mask: { data: ints(cases['ddim_cache.negative_mask']), shape: cases['ddim_cache.negative_mask'].shape } }];
      const run = async (graphs: boolean, profile: boolean) => {
        process.env.SKIPDIT_CUDA_GRAPHS = graphs ? '1' : '0';
        try {
          const model = await loadModel(fixturePath(T2V, 'model.safetensors'), { backend: 'cuda', config, profile });
          const pipe = new Pipeline(model, { steps: 8, cfgScale: 7.5, cache: 'N2-750-250' }).init({ text, negativeText, noise: tensor('ddim_cache.z') });
          while (!pipe.done) await pipe.step();
          const downloads = profile ? model.profile()!.ops.find((o) => o.op === 'download')?.calls ?? 0 : NaN;
          const result = { data: pipe.samples.data, pattern: pipe.history.map((h) => (h.cached ? 0 : 1)), graphSteps: pipe.history.filter((h) => h.graph).length, downloads };
          pipe.dispose();
          model.dispose();
          return result;
        } finally {
          delete process.env.SKIPDIT_CUDA_GRAPHS;
        }
      };
      const graphed = await run(true, false);
      expect(graphed.pattern).toEqual(ints(cases['ddim_cache.full_step']));
      within('latte-t2v ddim_cache sample, CUDA f32 vs official', relErr(graphed.data, f32(cases['ddim_cache.sample'])), FIXTURE_TOL_F32);
      expect(graphed.graphSteps).toBeGreaterThan(0);
      const eager = await run(false, true);
      expect(eager.downloads, 'no download while stepping').toBe(0);
      expect(bits(graphed.data), 'graphs bit-identical to eager').toEqual(bits(eager.data));
    });
  });

  // Hunyuan-DiT: the fixture forward (any-size latent, RoPE, pooler, text padding rows) in each dtype, and the cache sequence.
  describe('hunyuan-dit-tiny fixture', () => {
    const HY = 'hunyuan-dit-tiny';
    const cases = loadCases(HY);
    const tensor = (name: string) => ({ data: f32(cases[name]), shape: cases[name].shape });
    const mask = (name: string) => ({ data: Float32Array.from(ints(cases[name])), shape: cases[name].shape });
    const text = (c: string) => [
      { states: tensor(`${c}.encoder_hidden_states`), mask: mask(`${c}.text_embedding_mask`) },
      { states: tensor(`${c}.encoder_hidden_states_t5`), mask: mask(`${c}.text_embedding_mask_t5`) },
    ];
    for (const dtype of dtypes) {
      it(`forward and forward_nonsquare, ${dtype}`, async () => {
        const model = await loadModel(fixturePath(HY, 'model.safetensors'), { backend: 'cuda', dtype, config: { input_size: 8 } });
        try {
          for (const c of ['forward', 'forward_nonsquare']) {
            const r = await model.forward({ x: tensor(`${c}.x`), t: ints(cases[`${c}.t`]), text: text(c) });
            const err = relErr(r.data, f32(cases[`${c}.out`]));
            if (dtype === 'float32') within(`hunyuan ${c}, CUDA f32`, err, FIXTURE_TOL_F32);
            else report.push(`  ${`hunyuan ${c}, CUDA ${dtype} (info)`.padEnd(64)} ${err.toExponential(2)}`);
          }
        } finally {
          model.dispose();
        }
      });
    }
    it('cacheseq_n2_k1: the official pattern and outputs on the device', async () => {
      const model = await loadModel(fixturePath(HY, 'model.safetensors'), { backend: 'cuda', config: { input_size: 8 } });
      try {
        const cache = model.createCache('hunyuan:2:1');
        const c = 'cacheseq_n2_k1', x = cases[`${c}.x`], out = cases[`${c}.out`], t = ints(cases[`${c}.t`]);
        const pattern: number[] = [];
        for (let j = 0; j < t.length; j++) {
          const r = await model.forward({ x: { data: slice(f32(x), x.shape, j), shape: x.shape.slice(1) }, t: t[j], text: text(c) }, { cache });
          pattern.push(r.cached ? 0 : 1);
          within(`hunyuan ${c}.out[${j}], CUDA f32`, relErr(r.data, slice(f32(out), out.shape, j)), FIXTURE_TOL_F32);
        }
        expect(pattern).toEqual(ints(cases[`${c}.full_step`]));
      } finally {
        model.dispose();
      }
    });
  });

  it('VAE decoder fixture (vae-tiny), float32', async () => {
    const dir = path.join(fixturesDir, 'vae-tiny');
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const buf = readFileSync(path.join(dir, 'cases.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    const h = JSON.parse(buf.subarray(8, 8 + n).toString());
    const get = (k: string) => {
      const b = buf.subarray(8 + n + h[k].data_offsets[0], 8 + n + h[k].data_offsets[1]);
      return { data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)), shape: h[k].shape as number[] };
    };
    const [cpuVae, gpuVae] = [await loadVae(path.join(dir, 'model.safetensors'), { config }), await loadVae(path.join(dir, 'model.safetensors'), { config, backend: 'cuda' })];
    const z = get('decode.z');
    const [a, b] = [await cpuVae.decodeScaled(z, { taps: true }), await gpuVae.decodeScaled(z, { taps: true })];
    within('vae decode.image vs fixture', relErr(b.data, get('decode.image').data), FIXTURE_TOL_F32);
    for (const t of Object.keys(a.taps ?? {})) within(`vae tap ${t} vs cpu`, relErr(b.taps![t].data, a.taps![t].data), FIXTURE_TOL_F32);
    cpuVae.dispose();
    gpuVae.dispose();
  });

  it('SVD temporal VAE decoder fixture (svd-vae-tiny), float32: decode taps, two videos per call, pipeline chunks', async () => {
    const dir = path.join(fixturesDir, 'svd-vae-tiny');
    const config = { ...JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')), temporal: true };
    const cases = loadCases('svd-vae-tiny');
    const get = (k: string) => ({ data: f32(cases[k]), shape: cases[k].shape });
    const [cpuVae, gpuVae] = [await loadVae(path.join(dir, 'model.safetensors'), { config }), await loadVae(path.join(dir, 'model.safetensors'), { config, backend: 'cuda' })];
    const [a, b] = [await cpuVae.decodeScaled(get('decode.z'), { numFrames: 3, taps: true }), await gpuVae.decodeScaled(get('decode.z'), { numFrames: 3, taps: true })];
    within('svd vae decode.image vs fixture', relErr(b.data, get('decode.image').data), FIXTURE_TOL_F32);
    for (const t of Object.keys(a.taps ?? {})) within(`svd vae tap ${t} vs cpu`, relErr(b.taps![t].data, a.taps![t].data), FIXTURE_TOL_F32);
    const rect = await gpuVae.decodeScaled(get('decode_rect.z'), { numFrames: 2 });
    within('svd vae decode_rect.image vs fixture', relErr(rect.data, get('decode_rect.image').data), FIXTURE_TOL_F32);
    const pipe = await gpuVae.decodeVideo(get('pipeline.latents'));
    within('svd vae pipeline.frames (14 + 2) vs fixture', relErr(pipe.data, get('pipeline.frames').data), FIXTURE_TOL_F32);
    const chunk3 = await gpuVae.decodeVideo(get('pipeline_chunk3.latents'), { chunkFrames: 3 });
    within('svd vae pipeline_chunk3.frames vs fixture', relErr(chunk3.data, get('pipeline_chunk3.frames').data), FIXTURE_TOL_F32);
    cpuVae.dispose();
    gpuVae.dispose();
  });

  // bf16 / fp16 VAE weights: tensor-core convolutions and projections. Bound: 2x the error of the same math
  // emulated in JS (test/reference/vae.ts: every conv / linear input and weight rounded) + the fp32 tolerance.
  for (const [dtype, round] of [['bfloat16', roundBf16], ['float16', roundF16]] as const) {
    it(`VAE decoder fixture (vae-tiny), ${dtype} weights`, async () => {
      const dir = path.join(fixturesDir, 'vae-tiny');
      const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const cases = loadCases('vae-tiny');
      const weights = Object.fromEntries(Object.entries(readSafetensors(path.join(dir, 'model.safetensors')).tensors).map(([k, v]) => [k, f32(v)]));
      const vae = await loadVae(path.join(dir, 'model.safetensors'), { config, backend: 'cuda', dtype });
      expect(vae.dtype).toBe(dtype);
      for (const c of ['decode', 'decode_rect']) {
        const z = cases[`${c}.z`], image = f32(cases[`${c}.image`]);
        const sameMath = relErr(referenceVaeDecode(config, weights, f32(z), z.shape, round).data, image);
        const got = await vae.decodeScaled({ data: f32(z), shape: z.shape });
        expect(got.data.every(Number.isFinite)).toBe(true);
        within(`vae ${c}.image ${dtype}`, relErr(got.data, image), 2 * sameMath + FIXTURE_TOL_F32);
      }
      vae.dispose();
    });
  }

  it('an out-of-range label is an InvalidArgument before any kernel runs', async () => {
    const model = await loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'), { backend: 'cuda' });
    const c = loadCases('dit-skip-tiny');
    await expect(model.forward({ x: { data: f32(c['forward.x']), shape: c['forward.x'].shape }, t: f32(c['forward.t']), y: ints(c['forward.y']).map(() => 10_000) })).rejects.toThrow(/label/);
    model.dispose();
  });
});

describe.skipIf(cuda.available)('CUDA backend where it cannot run', () => {
  it('loadModel(..., { backend: "cuda" }) is a BackendUnavailableError naming the reason', async () => {
    await expect(loadModel(fixturePath('dit-skip-tiny', 'model.safetensors'), { backend: 'cuda' })).rejects.toThrow(/CUDA backend unavailable: .{8,}/);
  });
  it.skipIf(testAddonSkip)(`runOp on cuda fails with the same reason${testAddonNote}`, () => {
    expect(() => testNative().runOp('cuda', 'float32', 'silu', { n: 1, x: new Float32Array([1]) })).toThrow(/CUDA backend unavailable|CUDA unavailable/);
  });
});
