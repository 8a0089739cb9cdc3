// Bad input gets a typed error naming the parameter, never a crash, and leaves the model usable.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, BackendUnavailableError, CheckpointError, DisposedError, InvalidArgumentError, SkipditError, loadModel, normalizeConfig, type Model,
} from '../lib/index.js';
import { randn } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';
import { readSafetensors, writeSafetensors } from './helpers/safetensors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ditFile = fixturePath('dit-skip-tiny', 'model.safetensors');
const cases = loadCases('dit-skip-tiny');
const x0 = { data: f32(cases['forward.x']), shape: cases['forward.x'].shape };
const t0 = Array.from(f32(cases['forward.t']));
const y0 = ints(cases['forward.y']);

/** Rewrites the fixture weights with a change applied to the tensor map. */
function variant(name: string, edit: (t: Record<string, { shape: number[]; data: Float32Array }>) => void, metadata?: Record<string, string>): string {
  const src = readSafetensors(ditFile);
  const tensors = Object.fromEntries(Object.entries(src.tensors).map(([k, v]) => [k, { shape: v.shape, data: f32(v) }]));
  edit(tensors);
  const file = path.join(dir, name);
  writeSafetensors(file, tensors, metadata ?? src.metadata);
  return file;
}

async function rejects(p: Promise<unknown>, cls: new (...a: any[]) => Error, message: RegExp) {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(cls);
  expect(err).toBeInstanceOf(SkipditError);
  expect((err as Error).message).toMatch(message);
}

describe('bad inputs to forward', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(ditFile, { backend: 'cpu' });
  });

  it('wrong shape, wrong dtype, bad timesteps, bad labels', async () => {
    await rejects(model.forward({ x: { data: new Float32Array(2 * 4 * 8 * 4), shape: [2, 4, 8, 4] }, t: t0, y: y0 }), InvalidArgumentError, /Expected \(B, C, H, W\) = \[B, 4, 8, 8\] with B >= 1 for x\.shape but received \[2, 4, 8, 4\]/);
    await rejects(model.forward({ x: { data: new Float32Array(10), shape: [2, 4, 8, 8] }, t: t0, y: y0 }), InvalidArgumentError, /Expected 512 elements .*for x\.data but received 10 elements/);
    await rejects(model.forward({ x: { data: new Float64Array(512) as unknown as Float32Array, shape: [2, 4, 8, 8] }, t: t0, y: y0 }), InvalidArgumentError, /Float32Array for x\.data but received Float64Array/);
    await rejects(model.forward({ x: x0, t: [1, 2, 3], y: y0 }), InvalidArgumentError, /for t but/);
    await rejects(model.forward({ x: x0, t: [1, -4], y: y0 }), InvalidArgumentError, /t\[1\]/);
    await rejects(model.forward({ x: x0, t: [1, NaN], y: y0 }), InvalidArgumentError, /t\[1\]/);
    await rejects(model.forward({ x: x0, t: t0, y: [1, 11] }), InvalidArgumentError, /Expected a class label in \[0, 10\] for y\[1\] but received 11/);
    await rejects(model.forward({ x: x0, t: t0, y: [1.5, 2] }), InvalidArgumentError, /y\[0\]/);
    await rejects(model.forward({ x: x0, t: t0 }), InvalidArgumentError, /2 class labels for y/);
    await rejects(model.forward(null as never), InvalidArgumentError, /input/);
    await rejects(model.forwardWithCfg({ x: x0, t: t0, y: y0, cfgScale: Infinity }), InvalidArgumentError, /cfgScale/);
    await rejects(model.forwardWithCfg({ x: x0, t: t0, y: y0, cfgScale: 4, cfgChannels: 9 }), InvalidArgumentError, /cfgChannels/);
    const odd = { data: new Float32Array(3 * 256), shape: [3, 4, 8, 8] };
    await rejects(model.forwardWithCfg({ x: odd, t: 5, y: [1, 2, 3], cfgScale: 4 }), InvalidArgumentError, /even batch/);
  });

  it('the model still computes the exact fixture output after all of that', async () => {
    const r = await model.forward({ x: x0, t: t0, y: y0 });
    const again = await model.forward({ x: x0, t: t0, y: y0 });
    expect(r.data).toEqual(again.data);
    let maxDiff = 0;
    const ref = f32(cases['forward.out']);
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(r.data[i] - ref[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('labels for an unconditional model are refused', async () => {
    const cfg = normalizeConfig({ family: 'latte', skip: true, depth: 4, hidden_size: 16, num_heads: 2, patch_size: 2, input_size: 4, in_channels: 1, num_frames: 2, num_classes: 0, class_dropout: false });
    const { randomWeights } = await import('./reference/model.js');
    const file = path.join(dir, 'uncond.safetensors');
    writeSafetensors(file, randomWeights(cfg, randn));
    const m = await loadModel(file, { config: cfg });
    const x = { data: new Float32Array(2 * 16), shape: [1, 2, 1, 4, 4] };
    await rejects(m.forward({ x, t: 10, y: [0] }), InvalidArgumentError, /unconditional/);
    expect((await m.forward({ x, t: 10 })).shape).toEqual([1, 2, 2, 4, 4]);
    m.dispose();
  });

  it('an aborted signal rejects with AbortError', async () => {
    const ac = new AbortController();
    ac.abort();
    await rejects(model.forward({ x: x0, t: t0, y: y0 }, { signal: ac.signal }), AbortError, /aborted/);
  });

  it('disposed model: typed error, idempotent dispose, in-flight forward still completes', async () => {
    const m = await loadModel(ditFile, { backend: 'cpu' });
    const inflight = m.forward({ x: x0, t: t0, y: y0 });
    m.dispose();
    m.dispose();
    expect(m.disposed).toBe(true);
    expect((await inflight).shape).toEqual([2, 8, 8, 8]);
    await rejects(m.forward({ x: x0, t: t0, y: y0 }), DisposedError, /disposed/);
    expect(() => m.memory()).toThrow(DisposedError);
  });

  it('concurrent forwards on one model equal sequential ones', async () => {
    const xs = [0, 1, 2, 3].map((i) => ({ data: randn(512, 50 + i), shape: [2, 4, 8, 8] }));
    const parallel = await Promise.all(xs.map((x) => model.forward({ x, t: t0, y: y0 })));
    for (let i = 0; i < xs.length; i++) expect(parallel[i].data).toEqual((await model.forward({ x: xs[i], t: t0, y: y0 })).data);
  });
});

describe('bad checkpoints and options', () => {
  it('missing, wrongly shaped and unexpected tensors are listed precisely', async () => {
    const missing = variant('missing.safetensors', (t) => { delete t['blocks.3.mlp.fc2.bias']; });
    await rejects(loadModel(missing), CheckpointError, /missing tensors \(1\):\n\s+blocks\.3\.mlp\.fc2\.bias \[64\]/);
    const misshaped = variant('misshaped.safetensors', (t) => { t['skip_linears.1.linear.weight'] = { shape: [64, 64], data: new Float32Array(64 * 64) }; });
    await rejects(loadModel(misshaped), CheckpointError, /skip_linears\.1\.linear\.weight: expected \[64, 128\], file has \[64, 64\]/);
    const extra = variant('extra.safetensors', (t) => { t['blocks.8.attn.qkv.weight'] = { shape: [1], data: new Float32Array(1) }; });
    await rejects(loadModel(extra), CheckpointError, /unexpected tensors \(1\):\n\s+blocks\.8\.attn\.qkv\.weight/);
  });

  it('malformed safetensors files are refused with the reason', async () => {
    const bytes = readFileSync(ditFile);
    const write = (name: string, data: Buffer) => { const f = path.join(dir, name); writeFileSync(f, data); return f; };
    await rejects(loadModel(write('short.safetensors', bytes.subarray(0, 5))), CheckpointError, /too short/);
    const huge = Buffer.from(bytes); huge.writeBigUInt64LE(1n << 40n, 0);
    await rejects(loadModel(write('huge.safetensors', huge)), CheckpointError, /exceeds 100 MiB/);
    const past = Buffer.from(bytes.subarray(0, 1000));
    await rejects(loadModel(write('past.safetensors', past)), CheckpointError, /runs past the end/);
    const n = Number(bytes.readBigUInt64LE(0));
    const badJson = Buffer.from(bytes); badJson[8 + 3] = 0x01; // a control character inside the first key
    await rejects(loadModel(write('json.safetensors', badJson)), CheckpointError, /not valid JSON|invalid JSON/);
    const truncated = bytes.subarray(0, 8 + n + 100);
    await rejects(loadModel(write('trunc.safetensors', truncated)), CheckpointError, /outside the data section/);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
    header['pos_embed'].data_offsets = header['x_embedder.proj.weight'].data_offsets; // overlap (and wrong size)
    const h = Buffer.from(JSON.stringify(header).padEnd(n, ' '));
    const overlap = Buffer.concat([bytes.subarray(0, 8), h, bytes.subarray(8 + n)]);
    await rejects(loadModel(write('overlap.safetensors', overlap)), CheckpointError, /holds .* bytes but shape|overlap/);
    await rejects(loadModel(path.join(dir, 'nope.safetensors')), CheckpointError, /no such file/);
    const named = await loadModel(write('model.pt', bytes)); // the format comes from the bytes, not the name
    expect(named.config.depth).toBe(8);
    named.dispose();
  });

  it('a file without a config asks for one; a config that contradicts the tensors is refused', async () => {
    const noMeta = variant('nometa.safetensors', () => {}, {});
    await rejects(loadModel(noMeta), CheckpointError, /cannot tell the config .* specify \{ config: \{ \.\.\. \} \} with:\n\s+num_heads/s);
    const m = await loadModel(noMeta, { config: { family: 'dit', depth: 8, hidden_size: 64, num_heads: 4, input_size: 8, num_classes: 10 } });
    expect(m.config.depth).toBe(8);
    m.dispose();
    await rejects(loadModel(ditFile, { config: { family: 'dit', skip: false, depth: 8, hidden_size: 64, num_heads: 4, input_size: 8, num_classes: 10 } }), CheckpointError, /looks like a dit-skip/);
    await rejects(loadModel(ditFile, { config: { family: 'dit', depth: 8, hidden_size: 64, num_heads: 5, input_size: 8, num_classes: 10 } }), InvalidArgumentError, /num_heads/);
    await rejects(loadModel(ditFile, { config: { family: 'dit', depht: 8 } as never }), InvalidArgumentError, /config\.depht/);
    await rejects(loadModel(ditFile, { config: 'DiT-XXL' as never }), InvalidArgumentError, /preset name/);
    await rejects(loadModel(ditFile, { config: 'DiT-XL/2-skip' }), CheckpointError, /pos_embed: expected \[1, 256, 1152\]/);
  });

  it('backend choice: cuda without a usable GPU is BackendUnavailableError with the reason; unknown names are refused', async () => {
    await rejects(loadModel(ditFile, { backend: 'cuda' }), BackendUnavailableError, /CUDA backend unavailable: .+/);
    await rejects(loadModel(ditFile, { backend: 'tpu' as never }), InvalidArgumentError, /'auto', 'cpu' or 'cuda'/);
    const m = await loadModel(ditFile, { backend: 'auto' });
    expect(m.backend).toBe('cpu');
    m.dispose();
  });

  it('a read-only copy of the fixture loads (mmap needs no write access)', async () => {
    const copy = path.join(dir, 'ro.safetensors');
    copyFileSync(ditFile, copy);
    const m = await loadModel(copy);
    expect(m.memory().weightBytes).toBeGreaterThan(2_000_000);
    m.dispose();
  });
});
