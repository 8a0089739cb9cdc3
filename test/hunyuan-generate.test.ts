// Hunyuan-DiT end to end on a tiny random HunyuanDiT-v1.2 download (bench/tiny-hunyuan.ts): prompt -> BERT and mT5
// tokenizers and encoders -> DiT (CFG, DDPM, Skip-Cache) -> the SDXL-layout VAE (its config's scaling factor) -> PNG,
// through generateHunyuan() and `skipdit generate --prompt`; bad input gets typed errors.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyHunyuanFolder } from '../bench/tiny-hunyuan.js';
import { generateHunyuan } from '../lib/generate-hunyuan.js';
import { InvalidArgumentError, loadVae } from '../lib/index.js';
import { cli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';

describe('Hunyuan-DiT generation (tiny random download)', () => {
  let root: string, dir: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'skipdit-hy-'));
    dir = path.join(root, 'HunyuanDiT-v1.2');
    writeTinyHunyuanFolder(dir);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('generateHunyuan: a Chinese prompt to a PNG with hunyuan:2, the VAE scaling factor from its config.json', async () => {
    const vae = await loadVae(path.join(dir, 't2i', 'sdxl-vae-fp16-fix'));
    expect(vae.config.scaling_factor).toBe(0.13025);
    vae.dispose();
    const out = path.join(root, 'boat.png');
    const r = await generateHunyuan({ model: dir, prompts: ['渔舟唱晚'], size: [64, 96], steps: 10, cache: 'hunyuan:2', out, backend: 'cpu' });
    expect(readFileSync(out).subarray(1, 4).toString()).toBe('PNG');
    expect(r.samples.shape).toEqual([1, 4, 8, 12]);
    expect([r.images[0].height, r.images[0].width]).toEqual([64, 96]);
    // 10 DDPM steps 901..1: full while t >= 700 and on even counts
    expect(r.report).toMatchObject({ fullSteps: 6, cachedSteps: 4, sampler: 'ddpm', cfgScale: 6 });
    const again = await generateHunyuan({ model: dir, prompts: ['渔舟唱晚'], size: [64, 96], steps: 10, cache: 'hunyuan:2', out, backend: 'cpu', batch: 2, seed: 3 });
    expect(again.samples.shape[0]).toBe(2);
    // prompts far past the 16 BERT / 12 mT5 tokens of this model (77 / 256 released) are truncated, as the tokenizers do
    const long = await generateHunyuan({ model: dir, prompts: ['一只小猫 '.repeat(200), ''], size: [64, 64], steps: 2, out, backend: 'cpu' });
    expect(long.samples.shape[0]).toBe(2);
    expect(long.samples.data.every(Number.isFinite)).toBe(true);
  });

  it('bad input: typed errors naming the part, nothing written', async () => {
    const out = path.join(root, 'bad.png');
    await expect(generateHunyuan({ model: dir, prompts: [], out })).rejects.toThrow(/prompts/);
    await expect(generateHunyuan({ model: dir, prompts: ['x'], size: [60, 64], out, backend: 'cpu' })).rejects.toThrow(/size/);
    await expect(generateHunyuan({ model: dir, prompts: ['x'], out: path.join(root, 'x.gif') })).rejects.toThrow(/\.png/);
    await expect(generateHunyuan({ model: fixturePath('dit-skip-tiny', 'model.safetensors'), prompts: ['x'], out, backend: 'cpu' })).rejects.toThrow(/text_embedding_padding/);
    const bare = path.join(root, 'bare');
    writeTinyHunyuanFolder(bare);
    rmSync(path.join(bare, 't2i', 'mt5'), { recursive: true });
    await expect(generateHunyuan({ model: bare, prompts: ['x'], out, backend: 'cpu' })).rejects.toThrow(/mt5/);
    expect(existsSync(out)).toBe(false);
    await expect(generateHunyuan({ model: dir, prompts: ['x'], out, cfg: 1e40 })).rejects.toThrow(InvalidArgumentError);
  });

  it('skipdit generate --prompt on the download: one command to a PNG', async () => {
    const out = path.join(root, 'cli.png');
    const { stdout } = await cli('generate', '--model', dir, '--prompt', '渔舟唱晚', '--size', '64', '64', '--steps', '8', '--cache', 'hunyuan:2', '--backend', 'cpu', '--out', out);
    expect(stdout).toMatch(/wrote .*cli\.png \(64x64, 1 image\)/);
    expect(readFileSync(out).subarray(1, 4).toString()).toBe('PNG');
    await expect(cli('generate', '--model', dir, '--prompt', 'x', '--frames', '3')).rejects.toThrow(/--frames is not a Hunyuan-DiT option/);
    // each part can be given explicitly (here: the folder's own, from the checkpoint file)
    const t2i = path.join(dir, 't2i');
    const explicit = path.join(root, 'explicit.png');
    await cli('generate', '--model', path.join(t2i, 'model', 'pytorch_model_ema.pt'), '--bert', path.join(t2i, 'clip_text_encoder'), '--bert-tokenizer', path.join(t2i, 'tokenizer'),
      '--mt5', path.join(t2i, 'mt5'), '--vae', path.join(t2i, 'sdxl-vae-fp16-fix'), '--prompt', '渔舟唱晚', '--size', '64', '64', '--steps', '2', '--backend', 'cpu', '--out', explicit);
    expect(readFileSync(explicit).subarray(1, 4).toString()).toBe('PNG');
  });
});
