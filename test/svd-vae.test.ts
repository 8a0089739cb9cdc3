// The SVD temporal VAE decoder (diffusers AutoencoderKLTemporalDecoder) against test/fixtures/svd-vae-tiny: decode
// with every tap, two videos in one call, the text-to-video pipeline's chunks (14 + 2, and chunks of 3 straddling
// two videos), the official uint8 conversion, the config and input errors.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, CheckpointError, DisposedError, InvalidArgumentError, loadVae, videoToUint8, type Vae } from '../lib/index.js';
import { relErr } from './helpers/compare.js';
import { f32, fixturePath, ints, loadCases } from './helpers/fixtures.js';

const cases = loadCases('svd-vae-tiny');
const tensor = (name: string) => ({ data: f32(cases[name]), shape: cases[name].shape });
const u8 = (name: string) => cases[name].data as Uint8Array;
const config = JSON.parse(readFileSync(fixturePath('svd-vae-tiny', 'config.json'), 'utf8'));
const tmp = mkdtempSync(path.join(tmpdir(), 'skipdit-svd-vae-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const report: string[] = [];
afterAll(() => console.log('\nSVD temporal VAE decoder vs fixture (max relative error):\n' + report.join('\n')));

/** A diffusers folder: config.json (+ overrides) and diffusion_pytorch_model.safetensors. */
function folder(name: string, overrides: Record<string, unknown> = {}, weights = fixturePath('svd-vae-tiny', 'model.safetensors')): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, ...overrides }));
  copyFileSync(weights, path.join(dir, 'diffusion_pytorch_model.safetensors'));
  return dir;
}

/** (B*F, C, h, w) rows of B videos -> the 5-D (B, C, F, h, w) layout of a temporal tap. */
function toVideoLayout(data: Float32Array, B: number, F: number, C: number, plane: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < B; b++)
    for (let f = 0; f < F; f++)
      for (let c = 0; c < C; c++) out.set(data.subarray(((b * F + f) * C + c) * plane, ((b * F + f) * C + c + 1) * plane), ((b * C + c) * F + f) * plane);
  return out;
}

/** uint8 videos that may differ from the fixture by one level where our float lies within rounding of a boundary. */
function expectBytesClose(got: Uint8Array, want: Uint8Array): number {
  let off = 0;
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1);
    if (got[i] !== want[i]) off++;
  }
  return off;
}

const taps = ['conv_in', 'mid_resnet0_spatial', 'mid_resnet0_temporal', 'mid_resnet0', 'mid_attn', 'mid_block', 'up_block0_resnets', 'up_block0',
  'up_block1', 'norm_out_act', 'conv_out'];

describe('SVD temporal VAE decoder (AutoencoderKLTemporalDecoder)', () => {
  let vae: Vae;
  beforeAll(async () => {
    vae = await loadVae(folder('model'));
  });
  afterAll(() => vae?.dispose());

  it('loads a diffusers folder by its _class_name, ignoring encoder.* and quant_conv.*', () => {
    expect(vae.temporal).toBe(true);
    expect(vae.config).toMatchObject({ temporal: true, norm_num_groups: 32, block_out_channels: [32, 64], layers_per_block: 2, latent_channels: 4 });
    const buf = readFileSync(fixturePath('svd-vae-tiny', 'model.safetensors')); // F16 tensors: read the header only
    const keys = Object.keys(JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString()));
    expect(keys.some((k) => k.startsWith('encoder.')) && keys.some((k) => k.startsWith('quant_conv.'))).toBe(true);
  });

  it('decode: vae.decode(z, num_frames=3), the image and every tap', async () => {
    const F = ints(cases['decode.num_frames'])[0];
    const r = await vae.decodeScaled(tensor('decode.z'), { numFrames: F, taps: true });
    expect(r.shape).toEqual(cases['decode.image'].shape);
    const errors: Array<[string, number]> = [['image', relErr(r.data, f32(cases['decode.image']))]];
    for (const t of taps) {
      const got = r.taps![t];
      expect(got, t).toBeDefined();
      const want = cases[`decode.tap_${t}`];
      const data = want.shape.length === 5 ? toVideoLayout(got.data, want.shape[0], want.shape[2], want.shape[1], want.shape[3] * want.shape[4]) : got.data;
      errors.push([t, relErr(data, f32(want))]);
    }
    report.push(`  decode          ${errors.map(([n, e]) => `${n} ${e.toExponential(2)}`).join(', ')}`);
    for (const [n, e] of errors) expect(e, n).toBeLessThanOrEqual(1e-5);
  });

  it('decode_rect: two videos of 2 frames in one call (num_frames=2) on 3x5 latents; videos do not interact', async () => {
    const z = tensor('decode_rect.z');
    const F = ints(cases['decode_rect.num_frames'])[0];
    const r = await vae.decodeScaled(z, { numFrames: F });
    expect(r.shape).toEqual([4, 3, 6, 10]);
    const err = relErr(r.data, f32(cases['decode_rect.image']));
    report.push(`  decode_rect     image ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-5);
    // one call per video (chunk = num_frames) is the same math
    const split = await vae.decodeScaled(z, { numFrames: F, chunk: F });
    expect(relErr(split.data, r.data)).toBeLessThanOrEqual(1e-5);
    // a decode of all 4 rows as ONE video differs (the temporal norms and convolutions span the call)
    const one = await vae.decodeScaled(z);
    expect(relErr(one.data, r.data)).toBeGreaterThan(1e-3);
  });

  it('pipeline: 16 frames decoded in chunks of 14 + 2, the uint8 video', async () => {
    expect(ints(cases['pipeline.chunk_num_frames'])).toEqual([14, 2]);
    const events: number[] = [];
    const r = await vae.decodeVideo(tensor('pipeline.latents'), { onProgress: (p) => events.push(p.completed) });
    expect(r.shape).toEqual([1, 16, 3, 8, 8]);
    const err = relErr(r.data, f32(cases['pipeline.frames']));
    expect(err).toBeLessThanOrEqual(1e-5);
    expect(events.at(-1)).toBe(6); // 2 chunks x (mid block + 2 up blocks)
    // z = latents * f32(1 / 0.18215) exactly: decoding the fixture's z the same way gives the same bits
    const fromZ = await vae.decodeScaled(tensor('pipeline.z'), { chunk: 14 });
    expect(fromZ.data).toEqual(r.data);
    const video = videoToUint8(r);
    expect(video.shape).toEqual(cases['pipeline.video'].shape);
    const off = expectBytesClose(video.data, u8('pipeline.video'));
    expect(videoToUint8({ data: f32(cases['pipeline.frames']), shape: [1, 16, 3, 8, 8] }).data).toEqual(u8('pipeline.video'));
    report.push(`  pipeline        frames ${err.toExponential(2)} (chunks 14 + 2); uint8 from our frames: ${off} of ${video.data.length} off by one level`);
  });

  it('pipeline_chunk3: two 5-frame videos in chunks of 3, 3, 3, 1 (chunk 1 straddles the two videos)', async () => {
    expect(ints(cases['pipeline_chunk3.chunk_num_frames'])).toEqual([3, 3, 3, 1]);
    const r = await vae.decodeVideo(tensor('pipeline_chunk3.latents'), { chunkFrames: 3 });
    expect(r.shape).toEqual([2, 5, 3, 8, 8]);
    const err = relErr(r.data, f32(cases['pipeline_chunk3.frames']));
    expect(err).toBeLessThanOrEqual(1e-5);
    const off = expectBytesClose(videoToUint8(r).data, u8('pipeline_chunk3.video'));
    expect(videoToUint8({ data: f32(cases['pipeline_chunk3.frames']), shape: [2, 5, 3, 8, 8] }).data).toEqual(u8('pipeline_chunk3.video'));
    report.push(`  pipeline_chunk3 frames ${err.toExponential(2)} (chunks 3, 3, 3, 1); uint8 from our frames: ${off} off by one level`);
    // chunk boundaries matter: one chunk per video is another result
    const whole = await vae.decodeVideo(tensor('pipeline_chunk3.latents'), { chunkFrames: 5 });
    expect(relErr(whole.data, f32(cases['pipeline_chunk3.frames']))).toBeGreaterThan(1e-2);
  });

  it('postprocess: ((v / 2 + 0.5).clamp(0, 1) * 255).to(uint8), truncating, byte for byte', () => {
    const frames = tensor('postprocess.frames');
    const [N, C, H, W] = frames.shape;
    const video = videoToUint8({ data: frames.data, shape: [1, N, C, H, W] });
    expect(video.shape).toEqual([1, 16, 6, 7, 3]);
    expect(video.data).toEqual(u8('postprocess.video'));
    expect(videoToUint8({ data: new Float32Array([NaN, -Infinity, Infinity]), shape: [1, 1, 3, 1, 1] }).data).toEqual(new Uint8Array([0, 0, 255]));
  });

  it('F = 1 (the official path crashes): each frame decoded as a 1-frame video', async () => {
    const lat = tensor('pipeline_chunk3.latents'); // (2, 4, 5, 4, 4): take frame 0 of each video
    const one = new Float32Array(2 * 4 * 16);
    for (let b = 0; b < 2; b++) for (let c = 0; c < 4; c++) one.set(lat.data.subarray(((b * 4 + c) * 5) * 16, ((b * 4 + c) * 5 + 1) * 16), (b * 4 + c) * 16);
    const r = await vae.decodeVideo({ data: one, shape: [2, 4, 1, 4, 4] });
    expect(r.shape).toEqual([2, 1, 3, 8, 8]);
    const s = Math.fround(1 / 0.18215);
    const z = { data: one.map((v) => Math.fround(v * s)), shape: [2, 4, 4, 4] };
    expect(r.data).toEqual((await vae.decodeScaled(z, { chunk: 1 })).data);
  });

  it('bad input: typed errors naming the parameter, never a crash', async () => {
    const lat = tensor('pipeline.latents');
    const bad = async (p: Promise<unknown>, re: RegExp) => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(re);
    };
    await bad(vae.decodeVideo({ data: new Float32Array(3 * 16 * 16), shape: [1, 3, 16, 4, 4] }), /latents\.shape/);
    await bad(vae.decodeVideo({ data: lat.data, shape: [4, 16, 4, 4] }), /latents\.shape/);
    await bad(vae.decodeVideo({ data: new Float32Array(0), shape: [1, 4, 0, 4, 4] }), /latents\.shape/);
    await bad(vae.decodeVideo(lat, { chunkFrames: 0 }), /chunkFrames/);
    await bad(vae.decodeVideo(lat, { chunkFrames: 1.5 }), /chunkFrames/);
    for (const v of [NaN, Infinity, -Infinity]) {
      const data = Float32Array.from(lat.data);
      data[77] = v;
      await bad(vae.decodeVideo({ data, shape: lat.shape }), /finite numbers for latents\.data/);
    }
    await bad(vae.decodeVideo({ data: lat.data, shape: [1, 4, 16, 4, 5] }), /latents/);
    await bad(vae.decodeScaled(tensor('decode_rect.z'), { numFrames: 3 }), /numFrames/);
    await bad(vae.decodeScaled(tensor('decode_rect.z'), { numFrames: 2, chunk: 3 }), /numFrames/);
    await bad(vae.decode({ data: new Float32Array(64), shape: [1, 4, 4, 4] }), /decodeVideo/);
    expect(() => videoToUint8({ data: new Float32Array(3), shape: [3, 1, 1] })).toThrow(InvalidArgumentError);
    const sd = await loadVae(fixturePath('vae-tiny', 'model.safetensors'), { config: JSON.parse(readFileSync(fixturePath('vae-tiny', 'config.json'), 'utf8')) });
    await bad(sd.decodeVideo(lat), /temporal decoder/);
    await bad(sd.decodeScaled({ data: new Float32Array(64), shape: [1, 4, 4, 4] }, { numFrames: 1 }), /numFrames/);
    sd.dispose();
  });

  it('config errors name the parameter; a missing decoder tensor is a CheckpointError', async () => {
    await expect(loadVae(folder('bad-channels', { block_out_channels: [32, 48] }))).rejects.toThrow(/block_out_channels.*32/);
    await expect(loadVae(folder('bad-channels', { block_out_channels: [32, 48] }))).rejects.toThrow(InvalidArgumentError);
    await expect(loadVae(folder('bad-latent', { latent_channels: 0 }))).rejects.toThrow(/latent_channels/);
    await expect(loadVae(folder('bad-layers', { layers_per_block: 1.5 }))).rejects.toThrow(/layers_per_block/);
    await expect(loadVae(folder('bad-scale', { scaling_factor: -1 }))).rejects.toThrow(/scaling_factor/);
    // one mix factor renamed in the header (same length): missing, plus an unexpected decoder tensor
    const bytes = readFileSync(fixturePath('svd-vae-tiny', 'model.safetensors'));
    const name = 'decoder.up_blocks.0.resnets.1.time_mixer.mix_factor';
    const at = bytes.indexOf(`"${name}"`);
    expect(at).toBeGreaterThan(0);
    bytes.write(`"${name.replace('mix_factor', 'mix_fuctor')}"`, at);
    const missing = path.join(tmp, 'missing.safetensors');
    writeFileSync(missing, bytes);
    await expect(loadVae(folder('missing', {}, missing))).rejects.toThrow(CheckpointError);
    await expect(loadVae(folder('missing', {}, missing))).rejects.toThrow(/time_mixer\.mix_factor/);
  });

  it('a single weights file with config.temporal', async () => {
    const single = await loadVae(fixturePath('svd-vae-tiny', 'model.safetensors'), { config: { ...config, temporal: true } });
    expect(single.temporal).toBe(true);
    const r = await single.decodeScaled(tensor('decode_rect.z'), { numFrames: 2 });
    expect(relErr(r.data, f32(cases['decode_rect.image']))).toBeLessThanOrEqual(1e-5);
    single.dispose();
    await expect(loadVae(fixturePath('svd-vae-tiny', 'model.safetensors'), { config: { ...config, temporal: 'yes' as never } })).rejects.toThrow(/config\.temporal/);
  });

  it('AbortSignal (before and during a decode) and dispose()', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(vae.decodeVideo(tensor('pipeline.latents'), { signal: controller.signal })).rejects.toThrow(AbortError);
    const during = new AbortController();
    await expect(vae.decodeVideo(tensor('pipeline.latents'), { signal: during.signal, onProgress: () => during.abort() })).rejects.toThrow(AbortError);
    // the VAE still decodes afterwards
    const again = await vae.decodeVideo(tensor('pipeline.latents'));
    expect(relErr(again.data, f32(cases['pipeline.frames']))).toBeLessThanOrEqual(1e-5);
    const other = await loadVae(folder('model'));
    other.dispose();
    await expect(other.decodeVideo(tensor('pipeline.latents'))).rejects.toThrow(DisposedError);
  });
});
