// Videos (Latte: B x F frames): an animated GIF (gifenc), a PNG sequence (pngjs), and an MP4 when an ffmpeg
// binary is on PATH (detected; optional).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as gifenc from 'gifenc';
import { InvalidArgumentError, OutputError } from './errors.js';
import { encodePng, type Image } from './image.js';
import { makeOutputFolder, writeOutput } from './output.js';

// Node loads gifenc's CommonJS build (everything on the default export); vite / vitest and bundlers its ES build
// (named exports, the default being GIFEncoder alone).
const { GIFEncoder, applyPalette, quantize } = typeof gifenc.quantize === 'function' ? gifenc : gifenc.default;

function rgba(frame: Image): Uint8Array {
  const out = new Uint8Array(frame.width * frame.height * 4);
  for (let p = 0; p < frame.width * frame.height; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = frame.data[p * frame.channels + (frame.channels === 1 ? 0 : c)];
    out[p * 4 + 3] = 255;
  }
  return out;
}

/** An animated GIF of equally sized frames (a 256-colour palette per frame), looping, `fps` frames a second. */
export function encodeGif(frames: Image[], options: { fps?: number } = {}): Buffer {
  if (frames.length === 0) throw InvalidArgumentError.expected('frames', 'at least one frame', frames.length);
  const { width, height } = frames[0];
  const delay = Math.round(1000 / checkFps(options.fps));
  const gif = GIFEncoder();
  for (const f of frames) {
    if (f.width !== width || f.height !== height) throw InvalidArgumentError.expected('frames', `${width}x${height} frames`, `${f.width}x${f.height}`);
    const px = rgba(f);
    const palette = quantize(px, 256);
    gif.writeFrame(applyPalette(px, palette), width, height, { palette, delay, repeat: 0 });
  }
  gif.finish();
  return Buffer.from(gif.bytes());
}

/** frame_000.png, frame_001.png, ... in `dir` (created); a failed write is an OutputError. */
export function writePngSequence(dir: string, frames: Image[]): string[] {
  makeOutputFolder(dir);
  return frames.map((f, i) => {
    const file = path.join(dir, `frame_${String(i).padStart(3, '0')}.png`);
    writeOutput(file, encodePng(f));
    return file;
  });
}

/** Frames per second of a video: positive and at most 100 (a GIF frame lasts a whole number of 10 ms). */
export function checkFps(fps: unknown = 8, name = 'fps'): number {
  if (typeof fps !== 'number' || !(fps > 0 && fps <= 100)) throw InvalidArgumentError.expected(name, 'a number in (0, 100]', fps);
  return fps;
}

export function ffmpegAvailable(): boolean {
  return spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
}

/** An H.264 MP4 through ffmpeg (raw RGB frames on stdin); throws when ffmpeg is missing or fails. */
export function writeMp4(file: string, frames: Image[], options: { fps?: number } = {}): void {
  if (!ffmpegAvailable()) throw new InvalidArgumentError('Expected an ffmpeg binary on PATH to write MP4 (write a .gif or a PNG sequence instead)');
  if (frames.length === 0) throw InvalidArgumentError.expected('frames', 'at least one frame', frames.length);
  const fps = checkFps(options.fps);
  const { width, height } = frames[0];
  const raw = Buffer.concat(frames.map((f) => Buffer.from(rgba(f).filter((_, i) => i % 4 !== 3))));
  const r = spawnSync('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps),
    '-i', '-', '-pix_fmt', 'yuv420p', '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', file], { input: raw });
  if (r.status !== 0) throw new OutputError(`ffmpeg failed writing '${file}': ${r.stderr?.toString().trim() || r.error?.message || `exit ${r.status}`}`);
}
