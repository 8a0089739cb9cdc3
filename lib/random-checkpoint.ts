// Deterministic random weights with the official state_dict names, written as a safetensors file, so
// benchmarks run on real shapes (e.g. DiT-XL/2-skip) without downloads.
import { closeSync, openSync, writeSync } from 'node:fs';
import { modelParams } from './architecture.js';
import type { ModelConfig } from './config.js';

/** Every parameter's shape by state_dict name, in the model's order (its own list: modelParams, describeModel). */
export function checkpointShapes(c: ModelConfig): Record<string, number[]> {
  return Object.fromEntries(modelParams(c).map((p) => [p.name, [...p.shape]]));
}

/** Uniform(-1, 1)/sqrt(fan_in) weights (0.1 for vectors) from an LCG; streamed to disk tensor by tensor. */
export function writeRandomCheckpoint(file: string, c: ModelConfig, seed = 12345): number {
  const shapes = checkpointShapes(c);
  const header: Record<string, unknown> = { __metadata__: { config: JSON.stringify(c) } };
  let offset = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const fd = openSync(file, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json));
    let state = seed >>> 0;
    for (const shape of Object.values(shapes)) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      const scale = shape.length > 1 ? 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)) : 0.1;
      for (let i = 0; i < data.length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        data[i] = ((state / 2 ** 32) * 2 - 1) * scale;
      }
      writeSync(fd, Buffer.from(data.buffer));
    }
  } finally {
    closeSync(fd);
  }
  return offset;
}
