// Pictures: save_image semantics of the grid, PNG round trip, and `skipdit generate` on the bundled model.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledModel, encodePng, imageGrid, inspectCheckpoint, toByte } from '../lib/index.js';
import { cli } from './helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-gen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('image grid (torchvision save_image, normalize=True, value_range=(-1, 1))', () => {
  it('maps values like save_image: clamp, (x + 1) / 2, floor(x * 255 + 0.5)', () => {
    expect([-2, -1, 0, 1, 3, -0.999, 0.5].map(toByte)).toEqual([0, 0, 128, 255, 255, 0, 191]);
  });

  it('lays images out with 2-pixel zero padding, nrow per row; a single image has no padding', () => {
    const batch = { data: new Float32Array(3 * 2 * 2).fill(1), shape: [3, 1, 2, 2] };
    const g = imageGrid(batch, { nrow: 2 });
    expect([g.width, g.height, g.channels]).toEqual([2 * 4 + 2, 2 * 4 + 2, 1]);
    expect(g.data[0]).toBe(0); // padding
    expect(g.data[2 * g.width + 2]).toBe(255); // first pixel of image 0
    expect(g.data[2 * g.width + 6]).toBe(255); // image 1
    expect(g.data[6 * g.width + 6]).toBe(0); // the empty fourth slot
    const one = imageGrid({ data: new Float32Array(4), shape: [1, 1, 2, 2] });
    expect([one.width, one.height]).toEqual([2, 2]);
    const png = PNG.sync.read(encodePng(g));
    expect([png.width, png.height]).toEqual([g.width, g.height]);
    expect(png.data[(2 * g.width + 2) * 4]).toBe(255);
  });
});

describe('the bundled model', () => {
  it('ships in the package with its config in the metadata', async () => {
    expect(existsSync(bundledModel.path())).toBe(true);
    const info = await inspectCheckpoint(bundledModel.path());
    expect(info.config).toMatchObject({ family: 'dit', skip: true, in_channels: 1, input_size: 28, num_classes: 10, learn_sigma: true });
    expect(readFileSync(bundledModel.path()).length).toBeLessThanOrEqual(10 * 2 ** 20);
  });

  it('skipdit generate --class 7 --n 16 writes a 4x4 PNG grid of 28x28 digits (with and without cache)', async () => {
    for (const cache of [[], ['--cache', 'dit:2:1']]) {
      const out = path.join(dir, `sevens${cache.length}.png`);
      const r = await cli('generate', '--class', '7', '--n', '16', '--steps', '10', '--out', out, ...cache);
      expect(r.stdout).toMatch(/wrote .*\(122x122, 16 images of class 7\)/);
      const png = PNG.sync.read(readFileSync(out));
      expect([png.width, png.height]).toEqual([4 * 30 + 2, 4 * 30 + 2]);
      // digits are white strokes on black: some bright pixels, mostly dark, inside every cell
      let bright = 0;
      for (let i = 0; i < png.width * png.height; i++) if (png.data[i * 4] > 128) bright++;
      expect(bright / (16 * 28 * 28)).toBeGreaterThan(0.03);
      expect(bright / (16 * 28 * 28)).toBeLessThan(0.5);
    }
    const bad = await cli('generate', '--class', '12', '--out', path.join(dir, 'x.png')).catch((e) => e);
    expect(bad.stderr).toMatch(/class in \[0, 9\]/);
    // the DiT preset keeps 4 blocks at each end: too many for this 6-block model, so k must be given
    const deep = await cli('generate', '--class', '1', '--cache', 'dit:2', '--out', path.join(dir, 'x.png')).catch((e) => e);
    expect(deep.stderr).toMatch(/Expected an integer in \[1, 3\] \(blocks kept at each end\) for cache\.branch but received 4/);
  });
});
