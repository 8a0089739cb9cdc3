// End to end on the fixture models: class labels -> sampling (with Skip-Cache) -> VAE -> PNG / GIF / frames,
// each output decoded back and checked for size and content.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import omggif from 'omggif';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { fixturePath, fixturesDir } from './helpers/fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const vae = path.join(fixturesDir, 'vae-tiny');

function varied(pixels: ArrayLike<number>, step: number): boolean {
  const seen = new Set<number>();
  for (let i = 0; i < pixels.length; i += step) seen.add(pixels[i]);
  return seen.size > 10;
}

describe('skipdit generate with a VAE', () => {
  it('DiT-skip + VAE -> PNG grid (nrow 4 like sample.py), JSON report with the cached steps', async () => {
    const out = path.join(dir, 'samples.png');
    const r = await cli('generate', '--model', fixturePath('dit-skip-tiny', 'model.safetensors'), '--vae', vae, '--class', '1', '2', '3', '4', '5',
      '--steps', '10', '--sampler', 'ddim', '--cfg', '4', '--cache', 'dit:2', '--seed', '0', '--out', out, '--json');
    const report = JSON.parse(r.stdout);
    expect(report.cachedSteps).toBe(5);
    const png = PNG.sync.read(readFileSync(out));
    expect([png.width, png.height]).toEqual([4 * 18 + 2, 2 * 18 + 2]); // 16x16 images (latent 8 x 2), 4 per row
    expect(varied(png.data, 4)).toBe(true);
    expect(png.data[0]).toBe(0); // the padding
  });

  it('Latte-skip + VAE -> animated GIF (frames tiled across videos) and a PNG frame sequence', async () => {
    const gif = path.join(dir, 'video.gif');
    await cli('generate', '--model', fixturePath('latte-skip-tiny', 'model.safetensors'), '--vae', vae, '--class', '1', '2', '--frames', '4',
      '--steps', '8', '--cache', 'latte', '--out', gif);
    const reader = new omggif.GifReader(readFileSync(gif));
    expect([reader.width, reader.height, reader.numFrames()]).toEqual([2 * 18 + 2, 18 + 2, 4]);
    const frame = new Uint8Array(reader.width * reader.height * 4);
    reader.decodeAndBlitFrameRGBA(2, frame);
    expect(varied(frame, 4)).toBe(true);

    const frames = path.join(dir, 'frames');
    await cli('generate', '--model', fixturePath('latte-skip-tiny', 'model.safetensors'), '--vae', vae, '--class', '3', '--steps', '4', '--out', frames);
    expect(readdirSync(frames).sort()).toEqual(['frame_000.png', 'frame_001.png', 'frame_002.png', 'frame_003.png']);
    const f0 = PNG.sync.read(readFileSync(path.join(frames, 'frame_000.png')));
    expect([f0.width, f0.height]).toEqual([16, 16]);
  });

  it('a latent model without --vae, a wrong --frames, and a VAE of the wrong latent width are typed errors', async () => {
    const a = await cli('generate', '--model', fixturePath('dit-skip-tiny', 'model.safetensors'), '--class', '1', '--out', path.join(dir, 'x.png')).catch((e) => e);
    expect(a.stderr).toMatch(/Expected --vae .* latents with 4 channels/);
    const b = await cli('generate', '--model', fixturePath('latte-skip-tiny', 'model.safetensors'), '--vae', vae, '--class', '1', '--frames', '16', '--out', path.join(dir, 'x.gif')).catch((e) => e);
    expect(b.stderr).toMatch(/Expected --frames 4/);
  });
});
