// npm run bench:t5-folder: peak resident memory of loading a T5-v1.1-XXL-encoder-shaped Hugging Face folder
// (random bf16 weights, ~9.5 GB: d_model 4096, d_kv 64, 64 heads, d_ff 10240, 24 layers, vocab 32128) through the
// native weight-folder source (native/checkpoint/weight_folder.h), written as safetensors shards + index.json.
//
// Writing streams shard by shard, tensor by tensor, in 16 MiB chunks (never a whole tensor in memory). Loading
// runs in a fresh process that opens the folder and copies every tensor into its own allocation, kept to the end
// as a model keeps its weights, calling WeightSource::release after each (test addon holdWeightFolder); it
// reports its peak RSS (VmHWM). With --no-release a second run keeps the file pages mapped, for comparison.
//   node dist/bench/t5-folder.js [--layers 24] [--dir DIR] [--keep] [--shard-gib 2] [--no-release]
// Needs the test addon (npm test or npm run build:test-addon builds build/Release/skipdit_test.node).
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../lib/native.js';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '24' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'shard-gib': { type: 'string', default: '2' },
    'no-release': { type: 'boolean', default: false },
  },
});

const D = 4096, KV = 64, H = 64, FF = 10240, VOCAB = 32128, BUCKETS = 32;
let layers = Number(values.layers);
const shardBytes = Number(values['shard-gib']) * 2 ** 30;

/** The T5EncoderModel state dict (safetensors names: shared.weight holds the tied embedding), in save order. */
function encoderShapes(n: number): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [['shared.weight', [VOCAB, D]]];
  for (let i = 0; i < n; i++) {
    const a = `encoder.block.${i}.layer.0.`, f = `encoder.block.${i}.layer.1.`;
    for (const p of ['q', 'k', 'v']) out.push([`${a}SelfAttention.${p}.weight`, [H * KV, D]]);
    out.push([`${a}SelfAttention.o.weight`, [D, H * KV]]);
    if (i === 0) out.push([`${a}SelfAttention.relative_attention_bias.weight`, [BUCKETS, H]]);
    out.push([`${a}layer_norm.weight`, [D]]);
    out.push([`${f}DenseReluDense.wi_0.weight`, [FF, D]], [`${f}DenseReluDense.wi_1.weight`, [FF, D]], [`${f}DenseReluDense.wo.weight`, [D, FF]]);
    out.push([`${f}layer_norm.weight`, [D]]);
  }
  out.push(['encoder.final_layer_norm.weight', [D]]);
  return out;
}
const bytesOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1) * 2; // bf16

const dir = values.dir ?? mkdtempSync(path.join(tmpdir(), 't5-xxl-folder-'));
mkdirSync(dir, { recursive: true });
const free = () => { const s = statfsSync(dir); return s.bavail * s.bsize; };
const gib = (b: number) => (b / 2 ** 30).toFixed(2);

let shapes = encoderShapes(layers);
let total = shapes.reduce((a, [, s]) => a + bytesOf(s), 0);
const written = existsSync(path.join(dir, 'model.safetensors.index.json'));
if (!written && free() < total + 15 * 2 ** 30) {
  // Leave 15 GiB to everything else on the disk; fall back to half the depth.
  console.log(`only ${gib(free())} GiB free in ${dir}: writing a ${Math.floor(layers / 2)}-layer variant instead of ${layers} layers`);
  layers = Math.floor(layers / 2);
  shapes = encoderShapes(layers);
  total = shapes.reduce((a, [, s]) => a + bytesOf(s), 0);
}

/** Random bf16 values, ~N(0, 0.5)-ish magnitudes, from a xorshift stream (two values per 32-bit draw). */
let state = 0x9e3779b9;
function fillBf16(buf: Buffer): void {
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  for (let i = 0; i < u32.length; i++) {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
    // exponent bits fixed near 1.0 (0x3f..), random sign and mantissa: finite values in (-2, 2)
    u32[i] = ((state & 0x807f807f) | 0x3f003f00) >>> 0;
  }
}

function writeFolder(): void {
  // Shards as transformers packs them: a new shard when the next tensor would pass the size.
  const shards: Array<Array<[string, number[]]>> = [[]];
  let size = 0;
  for (const t of shapes) {
    if (size > 0 && size + bytesOf(t[1]) > shardBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(t);
    size += bytesOf(t[1]);
  }
  const pad = (k: number) => String(k).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const chunk = Buffer.alloc(16 << 20);
  const t0 = performance.now();
  shards.forEach((tensors, i) => {
    const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const [n, s] of tensors) {
      header[n] = { dtype: 'BF16', shape: s, data_offsets: [offset, offset + bytesOf(s)] };
      offset += bytesOf(s);
      weightMap[n] = name;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
    const fd = openSync(path.join(dir, name), 'w');
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      writeSync(fd, len);
      writeSync(fd, Buffer.from(json));
      for (const [, s] of tensors) {
        for (let left = bytesOf(s); left > 0;) {
          const n = Math.min(left, chunk.length);
          fillBf16(chunk);
          writeSync(fd, chunk, 0, n);
          left -= n;
        }
      }
    } finally {
      closeSync(fd);
    }
    console.log(`  wrote ${name} (${gib(offset)} GiB, ${tensors.length} tensors)`);
  });
  writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['T5EncoderModel'], model_type: 't5', d_model: D, d_kv: KV, num_heads: H, d_ff: FF, num_layers: layers, vocab_size: VOCAB,
    feed_forward_proj: 'gated-gelu', relative_attention_num_buckets: BUCKETS, relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6,
    torch_dtype: 'bfloat16', note: 'random weights written by skipdit bench/t5-folder.ts',
  }, null, 2));
  console.log(`  ${shards.length} shards in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const addon = path.join(packageRoot(), 'build', 'Release', 'skipdit_test.node');
if (!existsSync(addon)) throw new Error(`${addon} is missing: npm run build:test-addon builds it`);

// The child: open + copy every tensor (kept), then VmHWM / VmRSS from /proc/self/status.
const child = `
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const fs = require('node:fs');
  const status = () => Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n')
    .filter((l) => /^Vm(HWM|RSS):/.test(l)).map((l) => [l.split(':')[0], Number(l.split(/\\s+/)[1]) * 1024]));
  const t = require(process.argv[1]);
  const before = status();
  const r = t.holdWeightFolder(process.argv[2], { aliases: [['shared.weight', 'encoder.embed_tokens.weight']], ignorePrefixes: ['decoder.', 'lm_head.'] },
    { release: process.argv[3] !== 'no-release' });
  const after = status();
  console.log(JSON.stringify({ ...r, baseline: before.VmRSS, peak: after.VmHWM, rss: after.VmRSS }));
`;

function measure(release: boolean) {
  execFileSync('sync');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', child, addon, dir, release ? 'release' : 'no-release'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as { tensors: number; bytes: number; seconds: number; baseline: number; peak: number; rss: number };
}

try {
  console.log(`T5-v1.1-XXL encoder shape, ${layers} layers, bf16: ${shapes.length} tensors, ${gib(total)} GiB (${(total / 1e9).toFixed(2)} GB) in ${dir}`);
  if (!written) writeFolder();
  else console.log('  (folder already written: reusing it)');
  console.log('\nrun           load s   weights GiB   baseline RSS GiB   peak RSS GiB   peak / weights   (peak - baseline) / weights');
  const runs: boolean[] = [true, true];
  if (values['no-release']) runs.push(false);
  for (const release of runs) {
    const r = measure(release);
    if (r.bytes !== total) throw new Error(`read ${r.bytes} bytes, expected ${total}`);
    console.log(`${(release ? 'release' : 'no release').padEnd(12)} ${r.seconds.toFixed(2).padStart(7)} ${gib(r.bytes).padStart(13)} ${gib(r.baseline).padStart(18)} ${gib(r.peak).padStart(14)} ${(r.peak / r.bytes).toFixed(3).padStart(16)} ${((r.peak - r.baseline) / r.bytes).toFixed(3).padStart(29)}`);
  }
} finally {
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
