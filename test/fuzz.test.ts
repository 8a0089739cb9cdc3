// Mutation fuzzing of the checkpoint readers: thousands of corrupted copies of the fixture files (bytes
// flipped in the pickle, zip headers and central directory, safetensors header; truncations; insertions;
// extreme integers). Every one must either load or fail with a CheckpointError: no other error, no crash,
// no huge allocation. Seeded, so a failure is reproducible.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';
import { fixturePath } from './helpers/fixtures.js';

const ITERATIONS_PER_FILE = Number(process.env.FUZZ_ITERATIONS ?? 1200);

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n | 0;
  };
}

/** Byte ranges worth corrupting: where the structure (not tensor values) lives. */
function structuralRegions(file: Buffer): Array<[number, number]> {
  if (file.readUInt32LE(0) === 0x04034b50) {
    const regions: Array<[number, number]> = [];
    const header = file.lastIndexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), file.indexOf('data.pkl')); // local header of data.pkl
    const dataStart = header + 30 + file.readUInt16LE(header + 26) + file.readUInt16LE(header + 28);
    const pklSize = file.readUInt32LE(header + 22);
    regions.push([header, dataStart + pklSize]); // local header + pickle
    const cd = file.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    regions.push([cd, file.length]); // central directory + end records
    regions.push([dataStart + pklSize, dataStart + pklSize + 4096]); // the first storage's local header
    return regions;
  }
  const n = Number(file.readBigUInt64LE(0));
  return [[0, 8 + n]]; // safetensors: length + JSON header
}

function mutate(file: Buffer, r: (n: number) => number): Buffer {
  const regions = structuralRegions(file);
  const [lo, hi] = regions[r(regions.length)];
  const at = () => lo + r(Math.max(1, Math.min(hi, file.length) - lo));
  switch (r(5)) {
    case 0: { // flip a few bytes
      const b = Buffer.from(file);
      for (let i = 0, n = 1 + r(8); i < n; i++) b[at()] ^= 1 + r(255);
      return b;
    }
    case 1: // truncate
      return file.subarray(0, r(file.length));
    case 2: { // insert or delete bytes inside a structure
      const p = at();
      return r(2) ? Buffer.concat([file.subarray(0, p), Buffer.from([r(256), r(256), r(256)]).subarray(0, 1 + r(3)), file.subarray(p)])
        : Buffer.concat([file.subarray(0, p), file.subarray(Math.min(file.length, p + 1 + r(16)))]);
    }
    case 3: { // an extreme integer in a length / offset / count field
      const b = Buffer.from(file);
      const p = Math.min(at(), b.length - 8);
      const v = [0xffffffff, 0x7fffffff, 0x80000000, 0, 1, 0xfffffff0][r(6)];
      if (r(2)) b.writeUInt32LE(v, p);
      else b.writeBigUInt64LE(r(2) ? 0xffffffffffffffffn : BigInt(v) << 24n, p);
      return b;
    }
    default: { // splice in a copy of another structural byte run (plausible-looking garbage)
      const b = Buffer.from(file);
      const src = at(), dst = at(), len = 1 + r(64);
      b.copy(b, dst, src, Math.min(src + len, b.length));
      return b;
    }
  }
}

describe.skipIf(testAddonSkip)(`fuzzing the checkpoint readers (inspectCheckpointBytes, test addon)${testAddonNote}`, () => {
  for (const [name, seed] of [['model.pt', 1], ['ckpt-train.pt', 2], ['model.safetensors', 3]] as const) {
    it(`${ITERATIONS_PER_FILE} mutations of ${name}: each loads or is a CheckpointError`, () => {
      const original = readFileSync(fixturePath('dit-skip-tiny', name));
      const clean = testNative().inspectCheckpointBytes(original);
      expect(Object.keys(clean.tensors).length).toBe(108);
      const r = rng(seed);
      const outcomes = { loaded: 0, refused: 0 };
      const reasons = new Map<string, number>();
      const start = performance.now();
      for (let i = 0; i < ITERATIONS_PER_FILE; i++) {
        const bytes = mutate(original, r);
        try {
          testNative().inspectCheckpointBytes(bytes);
          outcomes.loaded++;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'SKIPDIT_CHECKPOINT') throw new Error(`iteration ${i} (seed ${seed}): unexpected ${code ?? 'error'}: ${(err as Error).message}`);
          outcomes.refused++;
          const reason = (err as Error).message.replace(/'[^']*'/g, "'…'").replace(/\d+/g, 'N').slice(0, 70);
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        }
      }
      const seconds = (performance.now() - start) / 1000;
      const top = [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${v}x ${k}`);
      console.log(`${name}: ${ITERATIONS_PER_FILE} mutations in ${seconds.toFixed(1)} s: ${outcomes.loaded} loaded, ${outcomes.refused} refused, 0 crashes\n  ${top.join('\n  ')}`);
      expect(outcomes.loaded + outcomes.refused).toBe(ITERATIONS_PER_FILE);
      expect(outcomes.refused).toBeGreaterThan(ITERATIONS_PER_FILE / 10); // the mutations do hit structure
    });
  }
});
