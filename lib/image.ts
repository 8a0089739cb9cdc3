// From samples to pictures: the official torchvision save_image(x, nrow, normalize=True, value_range=(-1, 1))
// semantics (clamp to [-1, 1], map to [0, 1], uint8 = floor(x * 255 + 0.5), images in a grid with 2-pixel
// padding of value 0, a single image without padding), and PNG encoding with pngjs.
import { PNG } from 'pngjs';
import { InvalidArgumentError } from './errors.js';
import { writeOutput } from './output.js';
import { checkTensor, type Tensor } from './tensor.js';

export interface Image {
  width: number;
  height: number;
  /** 1 (gray) or 3 (RGB) channels. */
  channels: number;
  /** Interleaved (H, W, C) uint8 pixels. */
  data: Uint8Array;
}

/**
 * save_image's value mapping for one float, each step rounded to float32 like torch: clamp(-1, 1), (x + 1) / 2,
 * * 255, + 0.5, clamp(0, 255), truncate to uint8.
 */
export function toByte(v: number): number {
  const x = Math.fround(Math.fround(Math.min(1, Math.max(-1, v)) + 1) / 2);
  return Math.trunc(Math.min(255, Math.max(0, Math.fround(Math.fround(x * 255) + 0.5))));
}

export type ByteMapping = 'torchvision' | 'dit-ddp' | 'latte' | 'latte-t2v' | 'diffusers';

/**
 * One float to a byte the way each official script does it, every op rounded to float32:
 * 'torchvision' (save_image), 'dit-ddp' (DiT sample_ddp.py: clamp(127.5 x + 128, 0, 255)),
 * 'latte' (((x * 0.5 + 0.5) * 255 + 0.5).clamp(0, 255)), 'latte-t2v' (pipeline_latte.py:
 * ((x / 2 + 0.5).clamp(0, 1) * 255)); all truncate to uint8. 'diffusers' (VaeImageProcessor, Hunyuan-DiT's PIL
 * output): ((x / 2 + 0.5).clamp(0, 1) * 255).round(), numpy's half-to-even.
 */
export function mapByte(v: number, mode: ByteMapping): number {
  const f = Math.fround;
  if (mode === 'torchvision') return toByte(v);
  if (mode === 'diffusers') { // VaeImageProcessor.postprocess('pil'): (x / 2 + 0.5).clamp(0, 1), (x * 255).round() (half to even)
    const x = f(f(v / 2) + 0.5);
    const y = f((x > 1 ? 1 : x >= 0 ? x : 0) * 255);
    const r = Math.round(y);
    return r - y === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }
  if (mode === 'latte-t2v') {
    const x = f(f(v / 2) + 0.5);
    return Math.trunc(f((x > 1 ? 1 : x >= 0 ? x : 0) * 255)); // NaN -> 0
  }
  const y = mode === 'dit-ddp' ? f(f(127.5 * v) + 128) : f(f(f(f(v * 0.5) + 0.5) * 255) + 0.5);
  return Math.trunc(Math.min(255, Math.max(0, y)));
}

/** (B, C, H, W) floats -> B images as interleaved (H, W, C) bytes. */
export function toImages(images: Tensor, mode: ByteMapping = 'torchvision'): Image[] {
  const batch = checkTensor(images, 'images'); // data must fill the shape: a short array would read as zeros
  const [B, C, H, W] = batch.shape;
  if (batch.shape.length !== 4) throw InvalidArgumentError.expected('images.shape', '(B, C, H, W)', batch.shape);
  return Array.from({ length: B }, (_, b) => {
    const data = new Uint8Array(H * W * C);
    for (let c = 0; c < C; c++)
      for (let p = 0; p < H * W; p++) data[p * C + c] = mapByte(batch.data[(b * C + c) * H * W + p], mode);
    return { width: W, height: H, channels: C, data };
  });
}

/**
 * make_grid of a batch (B, C, H, W) with values in [-1, 1]: `nrow` images per row (default 8, as torchvision),
 * `padding` pixels of 0 around and between them, bytes by `mapping` (default save_image's). C must be 1 or 3.
 */
export function imageGrid(images: Tensor, options: { nrow?: number; padding?: number; mapping?: ByteMapping } = {}): Image {
  const batch = checkTensor(images, 'images'); // data must fill the shape: a short array would read as zeros
  const [B, C, H, W] = batch.shape;
  if (batch.shape.length !== 4 || (C !== 1 && C !== 3) || B < 1) {
    throw InvalidArgumentError.expected('images.shape', '(B, C, H, W) with C = 1 or 3 and B >= 1', batch.shape);
  }
  const nrow = options.nrow ?? 8;
  const padding = options.padding ?? 2;
  if (!Number.isInteger(nrow) || nrow < 1) throw InvalidArgumentError.expected('nrow', 'a positive integer', nrow);
  if (!Number.isInteger(padding) || padding < 0) throw InvalidArgumentError.expected('padding', 'a non-negative integer', padding);
  // torchvision returns a single image as it is, without padding.
  const pad = B === 1 ? 0 : padding;
  const mapping = options.mapping ?? 'torchvision';
  const cols = Math.min(nrow, B), rows = Math.ceil(B / cols);
  const width = cols * (W + pad) + pad, height = rows * (H + pad) + pad;
  const out = new Uint8Array(width * height * C);
  for (let b = 0; b < B; b++) {
    const y0 = Math.floor(b / cols) * (H + pad) + pad, x0 = (b % cols) * (W + pad) + pad;
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) out[((y0 + y) * width + x0 + x) * C + c] = mapByte(batch.data[((b * C + c) * H + y) * W + x], mapping);
  }
  return { width, height, channels: C, data: out };
}

export function encodePng(image: Image): Buffer {
  const png = new PNG({ width: image.width, height: image.height, colorType: image.channels === 1 ? 0 : 2, inputColorType: image.channels === 1 ? 0 : 2, inputHasAlpha: false });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png, { colorType: image.channels === 1 ? 0 : 2, inputColorType: image.channels === 1 ? 0 : 2, inputHasAlpha: false });
}

/** Writes `image` as a PNG file; a failed write (disk full, permissions, ...) is an OutputError. */
export function writePng(path: string, image: Image): void {
  writeOutput(path, encodePng(image));
}
