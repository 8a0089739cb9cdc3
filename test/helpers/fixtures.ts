// Access to the golden fixtures copied from ../shared/fixtures (see test/fixtures/*/README.md).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizeConfig, type ModelConfig } from '../../lib/config.js';
import { readSafetensors, type StTensor } from './safetensors.js';

export const fixturesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export function fixturePath(name: string, file: string): string {
  return path.join(fixturesDir, name, file);
}

export function loadCases(name: string): Record<string, StTensor> {
  return readSafetensors(fixturePath(name, 'cases.safetensors')).tensors;
}

export function f32(t: StTensor): Float32Array {
  if (!(t.data instanceof Float32Array)) throw new Error('expected F32');
  return t.data;
}

export function ints(t: StTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** A float32 case tensor as the API takes it. */
export const tensor = (t: StTensor) => ({ data: f32(t), shape: t.shape });
/** An integer (0/1) case tensor as a float32 mask. */
export const mask = (t: StTensor) => ({ data: Float32Array.from(ints(t)), shape: t.shape });

/** A model fixture's config (from the checkpoint metadata) and float32 weights by name. */
export function loadFixtureModel(name: 'dit-skip-tiny' | 'latte-skip-tiny'): { config: ModelConfig; weights: Record<string, Float32Array> } {
  const file = readSafetensors(fixturePath(name, 'model.safetensors'));
  const meta = JSON.parse(file.metadata.config);
  const config = normalizeConfig({
    family: name.startsWith('dit') ? 'dit' : 'latte', skip: true, input_size: meta.input_size, patch_size: meta.patch_size,
    in_channels: meta.in_channels, hidden_size: meta.hidden_size, depth: meta.depth, num_heads: meta.num_heads,
    num_classes: meta.num_classes, learn_sigma: meta.learn_sigma, ...(meta.num_frames ? { num_frames: meta.num_frames } : {}),
  });
  return { config, weights: Object.fromEntries(Object.entries(file.tensors).map(([k, v]) => [k, f32(v)])) };
}
