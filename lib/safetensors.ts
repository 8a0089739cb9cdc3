// Writing safetensors files (float32 / int64 tensors + string metadata), e.g. sampled latents. Reading goes
// through the native mmap reader (inspectSafetensors / loadModel).
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError } from './errors.js';
import { numel } from './tensor.js';

export interface NamedTensor {
  shape: number[];
  /** Float32Array: dtype F32; BigInt64Array: I64 (token ids, attention masks as torch keeps them). */
  data: Float32Array | BigInt64Array;
}

/** Serialises tensors (in the given order) with an 8-byte aligned header. */
export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t.data instanceof Float32Array || t.data instanceof BigInt64Array) || numel(t.shape) !== t.data.length) {
      throw InvalidArgumentError.expected(`tensors.${name}`, 'float32 or int64 data matching its shape', t.shape);
    }
    const dtype = t.data instanceof Float32Array ? 'F32' : 'I64';
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const bodies = Object.values(tensors).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return Buffer.concat([length, Buffer.from(json, 'utf8'), ...bodies]);
}

export function writeSafetensors(path: string, tensors: Record<string, NamedTensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}
