// Access to the golden fixtures copied from ../shared/fixtures (see test/fixtures/*/README.md).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
