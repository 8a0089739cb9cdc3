// Text-to-video end to end on a tiny random Latte-1 style folder (bench/tiny-t2v.ts): prompt -> tokenizer -> T5 ->
// LatteT2V-skip (Skip-Cache) -> temporal VAE -> GIF / PNG, through generateVideo() and `skipdit generate --prompt`;
// the pieces agree with the same computation done step by step; bad input gets typed errors.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyT2VFolder } from '../bench/tiny-t2v.js';
import {
  InvalidArgumentError, Pipeline, cleanCaption, convertCheckpoint, encodeT2VPrompts, generate, generateVideo, loadModel, loadTextEncoder, loadTokenizer, loadVae,
  officialTextStates, videoToUint8,
} from '../lib/index.js';
import { cli } from './helpers/cli.js';
import { fixturePath } from './helpers/fixtures.js';

describe('text-to-video generation (tiny random folder)', () => {
  let dir: string;
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'skipdit-t2v-'));
    dir = path.join(root, 'Latte-1');
    writeTinyT2VFolder(dir);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('generateVideo: prompt to GIF with N2-700-50, frames = the official uint8 conversion of the decoded video', async () => {
    const out = path.join(root, 'fish.gif');
    const r = await generateVideo({ model: dir, prompts: ['Yellow and black tropical fish dart through the sea.'], frames: 4, steps: 10, cache: 'N2-700-50', out, backend: 'cpu' });
    expect(existsSync(out)).toBe(true);
    expect(readFileSync(out).subarray(0, 6).toString()).toBe('GIF89a');
    expect(r.samples.shape).toEqual([1, 4, 4, 16, 16]);
    expect(r.video.shape).toEqual([1, 4, 3, 64, 64]);
    expect(r.images).toHaveLength(4);
    // 10 leading steps: 900..0; full while t >= 700 and on even counts (count 3 at t = 600 is odd: cached)
    expect(r.report.timesteps).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    expect(r.report.stepsDetail.map((s) => (s.cached ? 0 : 1))).toEqual([1, 1, 1, 0, 1, 0, 1, 0, 1, 0]);
    // one image (n = 1): the grid is the frame itself, bytes as videoToUint8
    const bytes = videoToUint8(r.video);
    const frame0 = bytes.data.subarray(0, 64 * 64 * 3);
    expect(Buffer.from(r.images[0].data).equals(Buffer.from(frame0))).toBe(true);
  });

  it('is the same computation as tokenizer + T5 + the official truncation + Pipeline + decodeVideo by hand', async () => {
    const prompt = 'A <b>cat</b> wearing sunglasses, working as a lifeguard at pool. https://example.com/x.png';
    const r = await generateVideo({ model: dir, prompts: [prompt], frames: 4, steps: 4, seed: 5, out: path.join(root, 'cat.gif'), backend: 'cpu' });
    const model = await loadModel(path.join(dir, 'Latte-skip.pt'), { backend: 'cpu', config: { num_heads: 2, input_size: 16, num_frames: 4 } });
    const encoder = await loadTextEncoder(path.join(dir, 'text_encoder'));
    const tokenizer = await loadTokenizer(path.join(dir, 'tokenizer'));
    const vae = await loadVae(path.join(dir, 'vae_temporal_decoder'));
    try {
      const encoded = await encodeT2VPrompts(encoder, tokenizer, [prompt], '', { clean: cleanCaption });
      const text = officialTextStates(encoded.prompts, encoded.negatives, 32);
      expect(text.shape[1]).toBe(tokenizer.encode([cleanCaption(prompt)], {}).mask.data.reduce((a, b) => a + b, 0)); // keep = mask.sum()
      const pipe = new Pipeline(model, { steps: 4, cfgScale: 7.5 });
      pipe.init({ text: encoded.prompts, negativeText: encoded.negatives, seed: 5 });
      const samples = await pipe.run();
      expect(Array.from(samples.data)).toEqual(Array.from(r.samples.data));
      const video = await vae.decodeVideo(samples);
      expect(Array.from(video.data)).toEqual(Array.from(r.video.data));
    } finally {
      model.dispose();
      encoder.dispose();
      vae.dispose();
    }
  });

  it('Latte-skip.pt: the ema state dict is used (as sample_t2v.py); its safetensors conversion', async () => {
    const file = path.join(dir, 'Latte-skip.pt');
    const config = { num_heads: 2, input_size: 16, num_frames: 4 };
    const x = { data: new Float32Array(4 * 4 * 16 * 16).map((_, i) => Math.sin(i)), shape: [1, 4, 4, 16, 16] };
    const text = { data: new Float32Array(3 * 32).fill(0.5), shape: [1, 3, 32] };
    const outputs: Float32Array[] = [];
    for (const key of [undefined, 'ema', 'model']) {
      const m = await loadModel(file, { backend: 'cpu', config, checkpointKey: key });
      outputs.push((await m.forward({ x, t: 500, text })).data);
      m.dispose();
    }
    expect(outputs[0]).toEqual(outputs[1]);
    expect(outputs[0]).not.toEqual(outputs[2]);
    // its safetensors conversion (config in the metadata) loads alone and computes the same
    const converted = path.join(root, 'Latte-skip.safetensors');
    await convertCheckpoint(file, converted, { config });
    const m = await loadModel(converted, { backend: 'cpu' });
    expect(m.config).toMatchObject({ family: 'latte-t2v', num_heads: 2, input_size: 16, num_frames: 4 });
    expect((await m.forward({ x, t: 500, text })).data).toEqual(outputs[0]);
    m.dispose();
  });

  it('one frame (video_length 1) is written as a PNG; empty and over-long prompts run', async () => {
    const png = path.join(root, 'one.png');
    const r = await generateVideo({ model: dir, prompts: [''], frames: 1, steps: 2, out: png, backend: 'cpu' });
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    expect(r.video.shape).toEqual([1, 1, 3, 64, 64]);
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' '); // far past 120 tokens: truncated
    const g = await generateVideo({ model: dir, prompts: [long, 'a dog'], frames: 4, steps: 2, out: path.join(root, 'two.gif'), backend: 'cpu' });
    expect(g.samples.shape[0]).toBe(2);
    expect(g.images[0].width).toBe(2 * 64 + 3 * 2); // two videos side by side, padded as make_grid
  });

  it('bad input: typed errors naming the option, nothing written', async () => {
    const out = path.join(root, 'bad.gif');
    await expect(generateVideo({ model: dir, prompts: [], out })).rejects.toThrow(/prompts/);
    await expect(generateVideo({ model: dir, prompts: ['x'], frames: 4, out: path.join(root, 'x.png') })).rejects.toThrow(/out/);
    await expect(generateVideo({ model: dir, prompts: ['x'], frames: 1, out })).rejects.toThrow(/\.png/);
    await expect(generateVideo({ model: path.join(root, 'nope'), prompts: ['x'], out })).rejects.toThrow(InvalidArgumentError);
    // a folder without the text encoder: names the flag to give
    const bare = path.join(root, 'bare');
    writeTinyT2VFolder(bare);
    rmSync(path.join(bare, 'text_encoder'), { recursive: true });
    await expect(generateVideo({ model: bare, prompts: ['x'], frames: 4, out, backend: 'cpu' })).rejects.toThrow(/textEncoder/);
    // a class-to-video checkpoint given as text-to-video, and the other way round
    await expect(generateVideo({ model: fixturePath('latte-skip-tiny', 'model.safetensors'), prompts: ['x'], textEncoder: path.join(dir, 'text_encoder'), tokenizer: path.join(dir, 'tokenizer'), vae: path.join(dir, 'vae_temporal_decoder'), out, backend: 'cpu' }))
      .rejects.toThrow(/no caption projection/);
    await expect(generate({ model: path.join(dir, 'Latte-skip.pt'), config: { num_heads: 2, input_size: 16, num_frames: 4 }, backend: 'cpu', vae: path.join(dir, 'vae_temporal_decoder'), out })).rejects.toThrow(/text-to-video/);
    expect(existsSync(out)).toBe(false);
  });

  it('skipdit generate --prompt: one command from the folder to a GIF', async () => {
    const out = path.join(root, 'cli.gif');
    const { stdout } = await cli('generate', '--model', dir, '--prompt', 'An epic tornado attacking above a glowing city at night.', '--frames', '4', '--steps', '6', '--cache', 'N2-700-50', '--backend', 'cpu', '--out', out);
    expect(stdout).toMatch(/wrote .*cli\.gif \(4 frames of 64x64, 1 video\)/);
    expect(readFileSync(out).subarray(0, 3).toString()).toBe('GIF');
    await expect(cli('generate', '--model', dir, '--prompt', 'x', '--class', '3')).rejects.toThrow(/--class is not a text-to-video option/);
    await expect(cli('generate', '--model', dir, '--text-encoder', path.join(dir, 'text_encoder'))).rejects.toThrow(/--text-encoder is a text-to-video option/);
    writeFileSync(path.join(root, 'marker'), ''); // the root stays writable for the next tests
  });
});
