// Deterministic random weights with the official state_dict names, written as a safetensors file, so
// benchmarks run on real shapes (e.g. DiT-XL/2-skip) without downloads.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { ModelConfig } from './config.js';

export function checkpointShapes(c: ModelConfig): Record<string, number[]> {
  const D = c.hidden_size, p = c.patch_size, Hm = Math.floor(D * c.mlp_ratio), Cout = c.learn_sigma ? 2 * c.in_channels : c.in_channels;
  const T = (c.input_size / p) ** 2;
  const shapes: Record<string, number[]> = {
    pos_embed: [1, T, D], 'x_embedder.proj.weight': [D, c.in_channels, p, p], 'x_embedder.proj.bias': [D],
    't_embedder.mlp.0.weight': [D, 256], 't_embedder.mlp.0.bias': [D], 't_embedder.mlp.2.weight': [D, D], 't_embedder.mlp.2.bias': [D],
  };
  if (c.family === 'latte') shapes.temp_embed = [1, c.num_frames, D];
  if (c.num_classes > 0) shapes['y_embedder.embedding_table.weight'] = [c.num_classes + (c.class_dropout ? 1 : 0), D];
  for (let i = 0; i < c.depth; i++) {
    for (const [n, o, k] of [['attn.qkv', 3 * D, D], ['attn.proj', D, D], ['mlp.fc1', Hm, D], ['mlp.fc2', D, Hm], ['adaLN_modulation.1', 6 * D, D]] as const) {
      shapes[`blocks.${i}.${n}.weight`] = [o, k];
      shapes[`blocks.${i}.${n}.bias`] = [o];
    }
  }
  const skips = !c.skip ? 0 : c.family === 'dit' ? c.depth / 2 : c.depth / 4;
  for (let j = 0; j < skips; j++) {
    shapes[`skip_norms.${j}.weight`] = [2 * D];
    shapes[`skip_norms.${j}.bias`] = [2 * D];
    shapes[`skip_linears.${j}.linear.weight`] = [D, 2 * D];
    shapes[`skip_linears.${j}.linear.bias`] = [D];
  }
  shapes['final_layer.adaLN_modulation.1.weight'] = [2 * D, D];
  shapes['final_layer.adaLN_modulation.1.bias'] = [2 * D];
  shapes['final_layer.linear.weight'] = [p * p * Cout, D];
  shapes['final_layer.linear.bias'] = [p * p * Cout];
  return shapes;
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
