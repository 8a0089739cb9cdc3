// A plain TypeScript safetensors reader/writer for tests (independent of the native reader).
import { readFileSync } from 'node:fs';

export interface StTensor {
  dtype: string;
  shape: number[];
  data: Float32Array | BigInt64Array | Uint8Array;
}

export function readSafetensors(path: string): { tensors: Record<string, StTensor>; metadata: Record<string, string> } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  const tensors: Record<string, StTensor> = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, end] = e.data_offsets as [number, number];
    const bytes = buf.subarray(8 + n + b, 8 + n + end);
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const data = e.dtype === 'F32' ? new Float32Array(copy) : e.dtype === 'I64' ? new BigInt64Array(copy) : e.dtype === 'U8' ? new Uint8Array(copy) : null;
    if (!data) throw new Error(`test reader: unsupported dtype ${e.dtype}`);
    tensors[name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { tensors, metadata: header.__metadata__ ?? {} };
}

// Writing uses the library's writer; reading above is independent of the native reader.
export { writeSafetensors } from '../../lib/safetensors.js';
