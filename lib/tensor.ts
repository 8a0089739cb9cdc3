// The tensor shape users pass and receive: float32 data in row-major order with its shape.
import { InvalidArgumentError, describe } from './errors.js';

export interface Tensor {
  data: Float32Array;
  shape: number[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Checks `value` is a {data: Float32Array, shape} whose sizes agree; returns it typed. */
export function checkTensor(value: unknown, name: string): Tensor {
  if (typeof value !== 'object' || value === null) throw InvalidArgumentError.expected(name, '{ data: Float32Array, shape: number[] }', value);
  const { data, shape } = value as { data?: unknown; shape?: unknown };
  if (!(data instanceof Float32Array)) throw InvalidArgumentError.expected(`${name}.data`, 'a Float32Array', data);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw InvalidArgumentError.expected(`${name}.shape`, 'an array of non-negative integers', shape);
  }
  if (numel(shape) !== data.length) {
    throw new InvalidArgumentError(`Expected ${numel(shape)} elements (shape [${shape.join(', ')}]) for ${name}.data but received ${data.length} elements`);
  }
  return { data, shape: [...shape] };
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export { describe };
