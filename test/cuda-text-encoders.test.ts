// The text encoders (T5 v1.1, BERT) on CUDA against the CPU backend and the fixtures, in the style of
// test/cuda.test.ts: skipped, with the reason printed, where backends()[1].available is false; run on a GPU by
// `npm run test:gpu`.
//
// Tolerances (docs/cuda.md): float32 within 1e-4 of the CPU and of the fixtures (FIXTURE_TOL_CUDA_F32), taps too.
// bfloat16 / float16: the text encoders keep float32 activations, so only the GEMMs change (their float32 input
// rounded to the weight type as it is staged, fp32 accumulation; T5's wo float32 under float16): bounded by 2x the
// error of the same rounding emulated in JS (test/reference/text-encoders.ts) against the fixture, plus 1e-4.
// Recorded CUDA graphs (from the third call of a shape) must give the eager bits.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { backends, loadTextEncoder, type TextEncoderModel } from '../lib/index.js';
import { relErr } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';
import { readSafetensors } from './helpers/safetensors.js';
import { FIXTURE_TOL_CUDA_F32 } from './helpers/tolerances.js';
import { roundBf16 } from './reference/ops.js';
import { roundF16 } from './helpers/op-cases.js';
import { referenceBert, referenceT5 } from './reference/text-encoders.js';

const cuda = backends()[1];
const skipReason = cuda.available ? '' : `no usable CUDA device: ${cuda.reason}`;
if (!cuda.available) console.log(`test/cuda-text-encoders.test.ts skipped - ${skipReason}`);
const report: string[] = [];
afterAll(() => { if (report.length) console.log('\nCUDA text encoders (max relative error / bound):\n' + report.join('\n')); });

const encoders = [
  ['t5-encoder-tiny', ['mask_batch', 'long150', 'no_mask', 'e2e_latte']],
  ['bert-encoder-tiny', ['mask_batch', 'short_nomask', 'e2e_hunyuan']],
] as const;

function within(label: string, err: number, bound: number) {
  report.push(`  ${label.padEnd(56)} ${err.toExponential(2)} / ${bound.toExponential(2)}`);
  expect(err, label).toBeLessThanOrEqual(bound);
}

describe.skipIf(!cuda.available)(`text encoders on CUDA${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  for (const [name, list] of encoders) {
    const dir = path.dirname(fixturePath(name, 'config.json'));
    const cases = loadCases(name);
    const input = (c: string) => {
      const ids = cases[`${c}.input_ids`], m = cases[`${c}.attention_mask`];
      return {
        ids: { data: Int32Array.from(ints(ids)), shape: ids.shape },
        ...(m ? { mask: { data: Int32Array.from(ints(m)), shape: m.shape } } : {}),
      };
    };

    it(`${name} float32: every case against the CPU and the fixture, taps included`, async () => {
      const [gpu, cpu] = await Promise.all([loadTextEncoder(dir, { backend: 'cuda' }), loadTextEncoder(dir, { backend: 'cpu' })]);
      for (const c of list) {
        const [g, r] = [await gpu.forward(input(c), { taps: true }), await cpu.forward(input(c), { taps: true })];
        within(`${name} ${c} f32 vs cpu`, relErr(g.data, r.data), FIXTURE_TOL_CUDA_F32);
        within(`${name} ${c} f32 vs fixture`, relErr(g.data, f32(cases[`${c}.last_hidden_state`])), FIXTURE_TOL_CUDA_F32);
        for (const tap of Object.keys(r.taps!)) within(`${name} ${c} tap ${tap}`, relErr(g.taps![tap].data, r.taps![tap].data), FIXTURE_TOL_CUDA_F32);
      }
      gpu.dispose();
      cpu.dispose();
    });

    for (const dtype of ['bfloat16', 'float16'] as const) {
      it(`${name} ${dtype}: within 2x the emulated rounding error of the fixture`, async () => {
        const enc: TextEncoderModel = await loadTextEncoder(dir, { backend: 'cuda', dtype });
        const config = JSON.parse(readFileSync(fixturePath(name, 'config.json'), 'utf8'));
        const weights = Object.fromEntries(Object.entries(readSafetensors(fixturePath(name, 'model.safetensors')).tensors).map(([k, v]) => [k, f32(v)]));
        const round = dtype === 'bfloat16' ? roundBf16 : roundF16;
        for (const c of list) {
          const { ids, mask } = input(c);
          const args = [weights, Array.from(ids.data), mask ? Array.from(mask.data) : null, ids.shape[0], ids.shape[1],
            { round, keepWoF32: dtype === 'float16' }] as const;
          const emu = name.startsWith('t5') ? referenceT5(config, ...args) : referenceBert(config, ...args);
          const expected = f32(cases[`${c}.last_hidden_state`]);
          const got = await enc.forward({ ids, mask });
          expect(got.data.every(Number.isFinite)).toBe(true);
          within(`${name} ${c} ${dtype}`, relErr(got.data, expected), 2 * relErr(emu.out, expected) + FIXTURE_TOL_CUDA_F32);
        }
        enc.dispose();
      });
    }

    it(`${name}: recorded CUDA graphs give the eager bits; an abort stops a call`, async () => {
      const enc = await loadTextEncoder(dir, { backend: 'cuda', dtype: 'bfloat16' });
      const c = list[0];
      const runs = [];
      for (let i = 0; i < 4; i++) runs.push(Array.from((await enc.forward(input(c))).data));
      for (let i = 1; i < 4; i++) expect(runs[i]).toEqual(runs[0]);
      await expect(enc.forward(input(c), { signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
      expect(Array.from((await enc.forward(input(c))).data)).toEqual(runs[0]);
      enc.dispose();
    });
  }
});
