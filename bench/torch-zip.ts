// Writes torch.save-style checkpoints without PyTorch: a stored (uncompressed) zip archive with
// <root>/data.pkl (a protocol-2 pickle of the same shape torch.save writes), <root>/data/<key> storages and
// <root>/version. Used to generate large benchmark checkpoints and hand-crafted (also malicious) test files.
import { closeSync, openSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';

export type StorageDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64';
const storageClass: Record<StorageDtype, string> = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', F64: 'DoubleStorage', I64: 'LongStorage' };
export const elementBytes: Record<StorageDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8 };

/** A tiny protocol-2 pickle writer: build the opcode stream piece by piece. */
export class PickleWriter {
  private parts: Buffer[] = [Buffer.from([0x80, 0x02])];
  raw(bytes: number[] | Buffer): this {
    this.parts.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
    return this;
  }
  op(code: string): this {
    return this.raw(Buffer.from(code, 'latin1'));
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return this.raw(Buffer.concat([Buffer.from('X'), len, b]));
  }
  int(n: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x4a; // BININT (signed 32-bit)
    b.writeInt32LE(n, 1);
    return this.raw(b);
  }
  float(x: number): this {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT, big-endian
    b.writeDoubleBE(x, 1);
    return this.raw(b);
  }
  global(module: string, name: string): this {
    return this.op(`c${module}\n${name}\n`);
  }
  tuple(items: number[]): this {
    this.op('(');
    for (const i of items) this.int(i);
    return this.op('t');
  }
  /** _rebuild_tensor_v2(storage(persistent id), offset, size, stride, False, OrderedDict()) */
  tensor(t: { dtype: StorageDtype; key: string; storageNumel: number; offset?: number; shape: number[]; stride?: number[] }): this {
    const stride = t.stride ?? t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    this.global('torch._utils', '_rebuild_tensor_v2').op('(');
    this.op('(').str('storage').global('torch', storageClass[t.dtype]).str(t.key).str('cpu').int(t.storageNumel).op('t').op('Q');
    this.int(t.offset ?? 0).tuple(t.shape).tuple(stride).op('\x89').global('collections', 'OrderedDict').op(')R');
    return this.op('tR');
  }
  /** An OrderedDict of named tensors (a state dict). */
  stateDict(tensors: Array<{ name: string } & Parameters<PickleWriter['tensor']>[0]>): this {
    this.global('collections', 'OrderedDict').op(')R').op('(');
    for (const t of tensors) this.str(t.name).tensor(t);
    return this.op('u');
  }
  done(): Buffer {
    return Buffer.concat([...this.parts, Buffer.from('.')]);
  }
}

export interface ZipFileEntry {
  name: string;
  /** The bytes, or a producer called once while writing (for multi-GB storages). */
  data: Buffer | (() => Buffer);
  size?: number; // required with a producer
}

/**
 * Writes a stored zip archive to `path` (or returns it when path is null). Data is 64-byte aligned like
 * torch.save's. `zip64` forces ZIP64 records (as written for archives over 4 GiB).
 */
export function writeStoredZip(path: string | null, entries: ZipFileEntry[], options: { zip64?: boolean } = {}): Buffer | null {
  const chunks: Buffer[] = [];
  const fd = path ? openSync(path, 'w') : -1;
  let offset = 0;
  const emit = (b: Buffer) => {
    if (fd >= 0) writeSync(fd, b);
    else chunks.push(b);
    offset += b.length;
  };
  const central: Buffer[] = [];
  try {
    for (const e of entries) {
      const data = typeof e.data === 'function' ? e.data() : e.data;
      const name = Buffer.from(e.name, 'utf8');
      const headerStart = offset;
      const pad = (64 - ((headerStart + 30 + name.length + 4) % 64)) % 64; // an extra field aligning the data
      const extra = Buffer.alloc(4 + pad);
      extra.writeUInt16LE(0x4246, 0); // 'FB', as torch.save
      extra.writeUInt16LE(pad, 2);
      const crc = crc32(data);
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(data.length, 18);
      local.writeUInt32LE(data.length, 22);
      local.writeUInt16LE(name.length, 26);
      local.writeUInt16LE(extra.length, 28);
      emit(Buffer.concat([local, name, extra]));
      emit(data);
      const z64 = options.zip64 ? Buffer.alloc(28) : Buffer.alloc(0);
      if (options.zip64) {
        z64.writeUInt16LE(1, 0);
        z64.writeUInt16LE(24, 2);
        z64.writeBigUInt64LE(BigInt(data.length), 4);
        z64.writeBigUInt64LE(BigInt(data.length), 12);
        z64.writeBigUInt64LE(BigInt(headerStart), 20);
      }
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(45, 4);
      c.writeUInt16LE(45, 6);
      c.writeUInt32LE(crc, 16);
      c.writeUInt32LE(options.zip64 ? 0xffffffff : data.length, 20);
      c.writeUInt32LE(options.zip64 ? 0xffffffff : data.length, 24);
      c.writeUInt16LE(name.length, 28);
      c.writeUInt16LE(z64.length, 30);
      c.writeUInt32LE(options.zip64 ? 0xffffffff : headerStart, 42);
      central.push(Buffer.concat([c, name, z64]));
    }
    const dirStart = offset;
    for (const c of central) emit(c);
    const dirSize = offset - dirStart;
    if (options.zip64) {
      const rec = Buffer.alloc(56);
      const recStart = offset;
      rec.writeUInt32LE(0x06064b50, 0);
      rec.writeBigUInt64LE(44n, 4);
      rec.writeUInt16LE(45, 12);
      rec.writeUInt16LE(45, 14);
      rec.writeBigUInt64LE(BigInt(entries.length), 24);
      rec.writeBigUInt64LE(BigInt(entries.length), 32);
      rec.writeBigUInt64LE(BigInt(dirSize), 40);
      rec.writeBigUInt64LE(BigInt(dirStart), 48);
      emit(rec);
      const loc = Buffer.alloc(20);
      loc.writeUInt32LE(0x07064b50, 0);
      loc.writeBigUInt64LE(BigInt(recStart), 8);
      loc.writeUInt32LE(1, 16);
      emit(loc);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 8);
    end.writeUInt16LE(options.zip64 ? 0xffff : entries.length, 10);
    end.writeUInt32LE(options.zip64 ? 0xffffffff : dirSize, 12);
    end.writeUInt32LE(options.zip64 ? 0xffffffff : dirStart, 16);
    emit(end);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  return fd >= 0 ? null : Buffer.concat(chunks);
}

/** A torch.save-style archive: root/data.pkl, root/data/<key> for each storage, root/version. */
export function writeTorchCheckpoint(
  path: string | null, root: string, pickle: Buffer, storages: Array<{ key: string; data: Buffer | (() => Buffer) }>, options: { zip64?: boolean } = {},
): Buffer | null {
  return writeStoredZip(path, [
    { name: `${root}/data.pkl`, data: pickle },
    ...storages.map((s) => ({ name: `${root}/data/${s.key}`, data: s.data })),
    { name: `${root}/version`, data: Buffer.from('3\n') },
  ], options);
}
