#!/usr/bin/env node
// Lists the GPU code inside a built addon, like `cuobjdump --list-elf --list-ptx` (which this machine's
// cudart-only CUDA lacks): node scripts/fatbin-list.mjs <file.node> [--json]
// Reads the ELF section .nv_fatbin, walks its fatbin containers (magic 0xBA55ED50) and their entries: kind
// 1 = PTX, 2 = ELF (SASS), with the target from the entry header. --summary: one line per kind and target.
import { readFileSync } from 'node:fs';

const FATBIN_MAGIC = 0xba55ed50;

export function listFatbin(buf) {
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const section = (i) => {
    const o = shoff + i * shentsize;
    return { name: buf.readUInt32LE(o), offset: Number(buf.readBigUInt64LE(o + 0x18)), size: Number(buf.readBigUInt64LE(o + 0x20)) };
  };
  const strtab = section(shstrndx);
  const nameOf = (s) => {
    const start = strtab.offset + s.name;
    return buf.toString('latin1', start, buf.indexOf(0, start));
  };
  let fatbin;
  for (let i = 0; i < shnum; ++i) if (nameOf(section(i)) === '.nv_fatbin') fatbin = section(i);
  if (!fatbin) return [];
  const entries = [];
  let pos = fatbin.offset;
  const end = fatbin.offset + fatbin.size;
  while (pos + 16 <= end) {
    if (buf.readUInt32LE(pos) !== FATBIN_MAGIC) { pos += 8; continue; } // padding between containers
    const headerSize = buf.readUInt16LE(pos + 6);
    const fatSize = Number(buf.readBigUInt64LE(pos + 8));
    let e = pos + headerSize;
    const containerEnd = e + fatSize;
    while (e < containerEnd) {
      const kind = buf.readUInt16LE(e);
      const entryHeaderSize = buf.readUInt32LE(e + 4);
      const size = Number(buf.readBigUInt64LE(e + 8));
      const arch = buf.readUInt32LE(e + 28);
      const flags = buf.readBigUInt64LE(e + 40);
      const uncompressed = entryHeaderSize >= 64 ? Number(buf.readBigUInt64LE(e + 56)) : 0;
      // Flag 0x100000 marks an arch-specific ('a') target: sm_90a SASS runs only on compute capability 9.0, and
      // compute_90a PTX can be JIT-compiled only for it too. (Checked against the ".target sm_90a" line of a PTX
      // entry small enough to be stored in a raw zstd block.) PTX entries are zstd-compressed by CUDA 13.
      const suffix = flags & 0x100000n ? 'a' : '';
      const target = (kind === 1 ? 'compute_' : 'sm_') + arch + suffix;
      entries.push({ kind: kind === 1 ? 'PTX' : kind === 2 ? 'ELF' : `kind${kind}`, target, size, uncompressed, flags: '0x' + flags.toString(16) });
      e += entryHeaderSize + size;
    }
    pos = containerEnd;
  }
  return entries;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) { console.error('usage: node scripts/fatbin-list.mjs <file.node> [--json]'); process.exit(2); }
  const entries = listFatbin(readFileSync(file));
  if (process.argv.includes('--json')) console.log(JSON.stringify(entries));
  else if (process.argv.includes('--summary')) {
    const sum = new Map();
    for (const x of entries) {
      const k = `${x.kind} ${x.target}`;
      const s = sum.get(k) ?? { n: 0, bytes: 0 };
      s.n += 1; s.bytes += x.size; sum.set(k, s);
    }
    for (const [k, s] of sum) console.log(`${k}: ${s.n} entries, ${(s.bytes / 2 ** 20).toFixed(2)} MiB`);
  }
  else for (const x of entries) console.log(`${x.kind} ${x.target} ${x.size} bytes${x.uncompressed && x.uncompressed !== x.size ? ` (${x.uncompressed} uncompressed)` : ''} flags ${x.flags}`);
}
