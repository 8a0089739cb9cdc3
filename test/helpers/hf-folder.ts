// Hugging Face model folders for tests, written without transformers: model.safetensors or shards with
// model.safetensors.index.json, pytorch_model.bin (torch.save zip through bench/torch-zip.ts) or .bin shards with
// pytorch_model.bin.index.json, as save_pretrained lays them out.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PickleWriter, writeTorchCheckpoint, type StorageDtype } from '../../bench/torch-zip.js';

/** A tensor with its stored bytes (little-endian), any safetensors dtype. */
export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Buffer;
}

/** A safetensors file of raw tensors, in the given order, 8-byte aligned header. */
export function encodeRawSafetensors(tensors: RawTensor[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json, 'utf8'), ...tensors.map((t) => t.data)]);
}

/**
 * A torch.save zip of a state dict (OrderedDict at the root, as `torch.save(model.state_dict())` writes).
 * `tied`: pairs [a, b] where b is written as a second view of a's storage (tied parameters save one storage).
 */
export function encodeTorchBin(tensors: RawTensor[], tied: Array<[string, string]> = []): Buffer {
  const key = new Map<string, string>();
  const storages: Array<{ key: string; data: Buffer }> = [];
  for (const t of tensors) {
    const owner = tied.find(([, b]) => b === t.name)?.[0];
    if (owner !== undefined && key.has(owner)) {
      key.set(t.name, key.get(owner)!);
      continue;
    }
    key.set(t.name, String(storages.length));
    storages.push({ key: String(storages.length), data: t.data });
  }
  const bytesOf: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8 };
  const pickle = new PickleWriter().stateDict(tensors.map((t) => ({
    name: t.name,
    dtype: t.dtype as StorageDtype,
    key: key.get(t.name)!,
    storageNumel: t.data.length / bytesOf[t.dtype],
    shape: t.shape,
  }))).done();
  return writeTorchCheckpoint(null, 'pytorch_model', pickle, storages)!;
}

/** Splits `tensors` into `n` contiguous groups of about equal bytes. */
export function splitTensors(tensors: RawTensor[], n: number): RawTensor[][] {
  const total = tensors.reduce((a, t) => a + t.data.length, 0);
  const groups: RawTensor[][] = Array.from({ length: n }, () => []);
  let acc = 0;
  for (const t of tensors) {
    const g = Math.min(n - 1, Math.floor((acc / total) * n));
    groups[g].push(t);
    acc += t.data.length;
  }
  return groups.filter((g) => g.length > 0);
}

/** The shard file name save_pretrained uses. */
export function shardName(kind: 'safetensors' | 'bin', i: number, n: number): string {
  const pad = (k: number) => String(k).padStart(5, '0');
  return kind === 'safetensors' ? `model-${pad(i + 1)}-of-${pad(n)}.safetensors` : `pytorch_model-${pad(i + 1)}-of-${pad(n)}.bin`;
}

/** Writes shards of `groups` and their index into `dir`; returns the shard file names. */
export function writeSharded(dir: string, kind: 'safetensors' | 'bin', groups: RawTensor[][], options: { tied?: Array<[string, string]>; metadata?: Record<string, unknown> } = {}): string[] {
  const names = groups.map((_, i) => shardName(kind, i, groups.length));
  const weightMap: Record<string, string> = {};
  let total = 0;
  groups.forEach((g, i) => {
    const file = path.join(dir, names[i]);
    writeFileSync(file, kind === 'safetensors' ? encodeRawSafetensors(g, { format: 'pt' }) : encodeTorchBin(g, options.tied));
    for (const t of g) {
      weightMap[t.name] = names[i];
      total += t.data.length;
    }
  });
  const index = { metadata: options.metadata ?? { total_size: total }, weight_map: weightMap };
  writeFileSync(path.join(dir, kind === 'safetensors' ? 'model.safetensors.index.json' : 'pytorch_model.bin.index.json'), JSON.stringify(index, null, 2));
  return names;
}

/** Float32 tensor bytes of a deterministic pseudo-random sequence. */
export function randomF32(shape: number[], seed: number): Buffer {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return Buffer.from(out.buffer);
}

/** float32 bytes -> bfloat16 bytes (round to nearest even). */
export function toBf16(f32: Buffer): Buffer {
  const src = new Uint32Array(f32.buffer.slice(f32.byteOffset, f32.byteOffset + f32.length));
  const out = Buffer.alloc(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    out.writeUInt16LE(((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff, i * 2);
  }
  return out;
}
