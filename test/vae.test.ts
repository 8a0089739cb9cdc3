// The VAE decoder against ../shared/fixtures/vae-tiny: every tap in all three weight layouts, non-square
// latents, the latent scaling, byte-exact post-processing, other configs, diffusers folders, bad weights.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, InvalidArgumentError, imageGrid, loadVae, toImages, type ByteMapping } from '../lib/index.js';
import { randn, relErr } from './helpers/compare.js';
import { f32, fixturesDir } from './helpers/fixtures.js';
import { readSafetensors, writeSafetensors } from './helpers/safetensors.js';
import { referenceVaeDecode } from './reference/vae.js';

const dir = path.join(fixturesDir, 'vae-tiny');
const raw = (() => {
  // the cases file has U8 tensors too: read them as bytes
  const buf = readFileSync(path.join(dir, 'cases.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out: Record<string, { shape: number[]; f32?: Float32Array; u8?: Uint8Array }> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === '__metadata__') continue;
    const bytes = buf.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]);
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    out[k] = v.dtype === 'F32' ? { shape: v.shape, f32: new Float32Array(copy) } : { shape: v.shape, u8: new Uint8Array(copy) };
  }
  return out;
})();
const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
const tensor = (name: string) => ({ data: raw[name].f32!, shape: raw[name].shape });
const tmp = mkdtempSync(path.join(tmpdir(), 'skipdit-vae-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const report: string[] = [];
afterAll(() => console.log('\nVAE decoder vs fixture (max relative error):\n' + report.join('\n')));
const taps = ['post_quant_conv', 'conv_in', 'mid_resnet0', 'mid_attn', 'mid_block', 'up_block0_resnets', 'up_block0', 'up_block1', 'norm_out_act'];

describe('VAE decoder', () => {
  for (const [file, layout] of [['model.safetensors', 'diffusers'], ['model-legacy-names.safetensors', 'legacy diffusers'], ['model-ldm-names.safetensors', 'LDM']]) {
    it(`${layout} names (${file}): image and every tap`, async () => {
      const vae = await loadVae(path.join(dir, file), { config });
      expect(vae.layout).toBe(layout);
      const r = await vae.decodeScaled(tensor('decode.z'), { taps: true, chunk: 2 });
      expect(r.shape).toEqual([2, 3, 16, 16]);
      const errors = [relErr(r.data, raw['decode.image'].f32!)];
      for (const t of taps) errors.push(relErr(r.taps![t].data, raw[`decode.tap_${t}`].f32!));
      report.push(`  ${layout.padEnd(17)} image ${errors[0].toExponential(2)}; taps ${taps.map((t, i) => `${t} ${errors[i + 1].toExponential(1)}`).join(', ')}`);
      for (const e of errors) expect(e).toBeLessThanOrEqual(1e-5);
      vae.dispose();
    });
  }

  it('the float64 JS reference decoder (test/reference/vae.ts, the bf16 emulation of test/cuda.test.ts) matches the fixture', () => {
    const weights = Object.fromEntries(Object.entries(readSafetensors(path.join(dir, 'model.safetensors')).tensors).map(([k, v]) => [k, f32(v)]));
    for (const c of ['decode', 'decode_rect']) {
      const ref = referenceVaeDecode(config, weights, raw[`${c}.z`].f32!, raw[`${c}.z`].shape);
      expect(ref.shape).toEqual(raw[`${c}.image`].shape);
      const err = relErr(ref.data, raw[`${c}.image`].f32!);
      report.push(`  JS float64 reference ${c} image ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-5);
    }
  });

  it('low-precision VAE weights are CUDA-only: a typed error naming options.dtype on the cpu', async () => {
    await expect(loadVae(path.join(dir, 'model.safetensors'), { config, dtype: 'bfloat16' })).rejects.toThrow(InvalidArgumentError);
    await expect(loadVae(path.join(dir, 'model.safetensors'), { config, dtype: 'bfloat16' })).rejects.toThrow(/options\.dtype/);
    await expect(loadVae(path.join(dir, 'model.safetensors'), { config, dtype: 'float64' as never })).rejects.toThrow(/options\.dtype/);
    expect((await loadVae(path.join(dir, 'model.safetensors'), { config })).dtype).toBe('float32');
  });

  it('latents / 0.18215 as a float32 division, chunked decoding, non-square latents', async () => {
    const vae = await loadVae(path.join(dir, 'model.safetensors'), { config });
    const one = await vae.decode(tensor('decode.latents'), { chunk: 1 });
    const two = await vae.decode(tensor('decode.latents'), { chunk: 2 });
    expect(one.data).toEqual(two.data); // images decode independently
    const fromZ = await vae.decodeScaled(tensor('decode.z'), { chunk: 2 });
    expect(one.data).toEqual(fromZ.data); // z computed bit-exactly
    const rect = await vae.decode(tensor('decode_rect.latents'));
    expect(rect.shape).toEqual([1, 3, 10, 14]);
    const err = relErr(rect.data, raw['decode_rect.image'].f32!);
    report.push(`  decode_rect (5x7 latents) image ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-5);
    vae.dispose();
  });

  for (const c of ['decode', 'decode_rect', 'postprocess']) {
    it(`${c}: post-processing bytes match exactly (torchvision, DiT ddp, Latte, DiT sample.py grid)`, () => {
      const image = tensor(`${c}.image`);
      for (const [mode, key] of [['torchvision', 'png_torchvision'], ['dit-ddp', 'u8_dit_ddp'], ['latte', 'u8_latte']] as Array<[ByteMapping, string]>) {
        const bytes = Buffer.concat(toImages(image, mode).map((im) => Buffer.from(im.data)));
        expect(Buffer.compare(bytes, Buffer.from(raw[`${c}.${key}`].u8!)), `${c} ${mode}`).toBe(0);
      }
      const grid = imageGrid(image, { nrow: 4 });
      expect([grid.height, grid.width, grid.channels]).toEqual(raw[`${c}.png_torchvision_grid`].shape);
      expect(Buffer.compare(Buffer.from(grid.data), Buffer.from(raw[`${c}.png_torchvision_grid`].u8!))).toBe(0);
    });
  }

  it('a config unlike the fixture (3 levels, 2 layers per block, 4 groups, no mid attention) decodes non-square latents', async () => {
    const cfg = { block_out_channels: [8, 16, 16], layers_per_block: 2, norm_num_groups: 4, mid_block_add_attention: false, latent_channels: 3, out_channels: 1 };
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    let seed = 100;
    const add = (name: string, shape: number[]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      tensors[name] = { shape, data: randn(n, seed++, shape.length > 1 ? 1 / Math.sqrt(n / shape[0]) : 0.1) };
    };
    const conv = (p: string, o: number, i: number, k: number) => { add(`${p}.weight`, [o, i, k, k]); add(`${p}.bias`, [o]); };
    const norm = (p: string, c: number) => { add(`${p}.weight`, [c]); add(`${p}.bias`, [c]); };
    const resnet = (p: string, i: number, o: number) => { norm(`${p}.norm1`, i); conv(`${p}.conv1`, o, i, 3); norm(`${p}.norm2`, o); conv(`${p}.conv2`, o, o, 3); if (i !== o) conv(`${p}.conv_shortcut`, o, i, 1); };
    conv('post_quant_conv', 3, 3, 1);
    conv('decoder.conv_in', 16, 3, 3);
    resnet('decoder.mid_block.resnets.0', 16, 16);
    resnet('decoder.mid_block.resnets.1', 16, 16);
    const chans = [16, 16, 8];
    let prev = 16;
    chans.forEach((c, i) => {
      for (let j = 0; j < 3; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : c, c);
      if (i < 2) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c, 3);
      prev = c;
    });
    norm('decoder.conv_norm_out', 8);
    conv('decoder.conv_out', 1, 8, 3);
    add('encoder.conv_in.weight', [8, 3, 3, 3]); // a full AutoencoderKL file: the encoder is ignored
    const file = path.join(tmp, 'other.safetensors');
    writeSafetensors(file, tensors);
    const vae = await loadVae(file, { config: cfg });
    const r = await vae.decode({ data: randn(2 * 3 * 3 * 5, 7), shape: [2, 3, 3, 5] });
    expect(r.shape).toEqual([2, 1, 12, 20]);
    expect(r.data.every(Number.isFinite)).toBe(true);
    expect(r.data.some((v) => v !== 0)).toBe(true);
    vae.dispose();
  });

  it('a diffusers folder (config.json + diffusion_pytorch_model.safetensors) loads; missing and unexpected tensors are precise errors', async () => {
    const folder = path.join(tmp, 'sd-vae');
    mkdirSync(folder);
    copyFileSync(path.join(dir, 'config.json'), path.join(folder, 'config.json'));
    copyFileSync(path.join(dir, 'model.safetensors'), path.join(folder, 'diffusion_pytorch_model.safetensors'));
    const vae = await loadVae(folder);
    expect(vae.config.block_out_channels).toEqual([32, 64]);
    expect(relErr((await vae.decodeScaled(tensor('decode.z'))).data, raw['decode.image'].f32!)).toBeLessThanOrEqual(1e-5);
    vae.dispose();

    const weights = readSafetensors(path.join(dir, 'model.safetensors')).tensors;
    const edited = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, { shape: v.shape, data: v.data as Float32Array }]));
    delete edited['decoder.mid_block.attentions.0.to_k.bias'];
    edited['decoder.up_blocks.7.resnets.0.norm1.weight'] = { shape: [1], data: new Float32Array(1) };
    const bad = path.join(tmp, 'bad.safetensors');
    writeSafetensors(bad, edited);
    const err = await loadVae(bad, { config }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toMatch(/missing tensors \(1\):\n\s+decoder\.mid_block\.attentions\.0\.to_k\.bias/);
    expect(err.message).toMatch(/unexpected tensors \(1\):\n\s+decoder\.up_blocks\.7\.resnets\.0\.norm1\.weight/);
    // the SD VAE default config does not fit the tiny weights: shapes are reported
    await expect(loadVae(path.join(dir, 'model.safetensors'))).rejects.toThrow(/wrongly shaped tensors/);
  });
});
