// npm run bench:text: the text encoders at the sizes of the real systems, on random weights of the real shapes:
//   t5-xxl      T5-v1.1-XXL encoder (Latte-skip t2v; d_model 4096, 64 heads x 64, d_ff 10240, 24 layers, vocab 32128),
//               bfloat16 weights (~9.5 GB), one 120-token prompt (LattePipeline's max_length)
//   bert-large  a BERT-large-shaped encoder (hidden 1024, 16 heads, 4096, 24 layers, vocab 21128 like the Chinese
//               BERTs), float32 weights (~1.3 GB), 77 tokens (Hunyuan-DiT's max_length)
// The folder (config.json + safetensors shards + index.json, as transformers writes them) is written once into
// bench/.cache, streamed tensor by tensor with fan-in-scaled uniform values so activations stay finite. A fresh
// process loads it with loadTextEncoder (cpu), reports its peak RSS (VmHWM), then times forwards (one warm-up, then
// --runs) and reports GFLOP/s and % of the peak measured in the same process (the bf16 dot-product peak for bf16
// weights).
//   node dist/bench/text-encoders.js [--model t5-xxl|bert-large] [--layers N] [--runs 3] [--json]
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { packageRoot } from '../lib/native.js';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 't5-xxl' }, layers: { type: 'string' }, runs: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } },
});

interface Spec {
  dtype: 'BF16' | 'F32';
  tokens: number;
  config: Record<string, unknown>;
  tensors(layers: number): Array<[string, number[]]>;
  flops(layers: number, L: number): number;
}

const T5 = { D: 4096, KV: 64, H: 64, FF: 10240, VOCAB: 32128, BUCKETS: 32 };
const BERT = { D: 1024, H: 16, FF: 4096, VOCAB: 21128, POS: 512 };
const specs: Record<string, Spec> = {
  't5-xxl': {
    dtype: 'BF16', tokens: 120,
    config: { architectures: ['T5EncoderModel'], model_type: 't5', d_model: T5.D, d_kv: T5.KV, num_heads: T5.H, d_ff: T5.FF, vocab_size: T5.VOCAB, feed_forward_proj: 'gated-gelu', relative_attention_num_buckets: T5.BUCKETS, relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6 },
    tensors: (n) => {
      const out: Array<[string, number[]]> = [['shared.weight', [T5.VOCAB, T5.D]]];
      for (let i = 0; i < n; i++) {
        const a = `encoder.block.${i}.layer.0.`, f = `encoder.block.${i}.layer.1.`;
        for (const p of ['q', 'k', 'v']) out.push([`${a}SelfAttention.${p}.weight`, [T5.H * T5.KV, T5.D]]);
        out.push([`${a}SelfAttention.o.weight`, [T5.D, T5.H * T5.KV]]);
        if (i === 0) out.push([`${a}SelfAttention.relative_attention_bias.weight`, [T5.BUCKETS, T5.H]]);
        out.push([`${a}layer_norm.weight`, [T5.D]]);
        out.push([`${f}DenseReluDense.wi_0.weight`, [T5.FF, T5.D]], [`${f}DenseReluDense.wi_1.weight`, [T5.FF, T5.D]], [`${f}DenseReluDense.wo.weight`, [T5.D, T5.FF]]);
        out.push([`${f}layer_norm.weight`, [T5.D]]);
      }
      out.push(['encoder.final_layer_norm.weight', [T5.D]]);
      return out;
    },
    // per layer: q, k, v, o, wi_0, wi_1, wo, and the two attention products
    flops: (n, L) => n * (2 * L * T5.D * T5.H * T5.KV * 4 + 2 * L * T5.D * T5.FF * 3 + 4 * L * L * T5.H * T5.KV),
  },
  'bert-large': {
    dtype: 'F32', tokens: 77,
    config: { architectures: ['BertModel'], model_type: 'bert', hidden_size: BERT.D, num_attention_heads: BERT.H, intermediate_size: BERT.FF, vocab_size: BERT.VOCAB, max_position_embeddings: BERT.POS, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu' },
    tensors: (n) => {
      const out: Array<[string, number[]]> = [
        ['embeddings.word_embeddings.weight', [BERT.VOCAB, BERT.D]], ['embeddings.position_embeddings.weight', [BERT.POS, BERT.D]],
        ['embeddings.token_type_embeddings.weight', [2, BERT.D]], ['embeddings.LayerNorm.weight', [BERT.D]], ['embeddings.LayerNorm.bias', [BERT.D]],
      ];
      for (let i = 0; i < n; i++) {
        const p = `encoder.layer.${i}.`;
        for (const m of ['query', 'key', 'value']) out.push([`${p}attention.self.${m}.weight`, [BERT.D, BERT.D]], [`${p}attention.self.${m}.bias`, [BERT.D]]);
        out.push([`${p}attention.output.dense.weight`, [BERT.D, BERT.D]], [`${p}attention.output.dense.bias`, [BERT.D]]);
        out.push([`${p}attention.output.LayerNorm.weight`, [BERT.D]], [`${p}attention.output.LayerNorm.bias`, [BERT.D]]);
        out.push([`${p}intermediate.dense.weight`, [BERT.FF, BERT.D]], [`${p}intermediate.dense.bias`, [BERT.FF]]);
        out.push([`${p}output.dense.weight`, [BERT.D, BERT.FF]], [`${p}output.dense.bias`, [BERT.D]]);
        out.push([`${p}output.LayerNorm.weight`, [BERT.D]], [`${p}output.LayerNorm.bias`, [BERT.D]]);
      }
      return out;
    },
    flops: (n, L) => n * (2 * L * BERT.D * BERT.D * 4 + 2 * L * BERT.D * BERT.FF * 2 + 4 * L * L * BERT.D),
  },
};

const name = values.model!;
const spec = specs[name];
if (!spec) throw new Error(`--model must be one of ${Object.keys(specs).join(', ')}`);
const layers = Number(values.layers ?? 24);
const log = (s: string) => { if (!values.json) console.log(s); };
const gib = (b: number) => (b / 2 ** 30).toFixed(2);
const elem = spec.dtype === 'BF16' ? 2 : 4;
const tensors = spec.tensors(layers);
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const weightBytes = tensors.reduce((a, [, s]) => a + numel(s) * elem, 0);
const dir = path.join(packageRoot(), 'bench', '.cache', `${name}-${layers}-layers`);

/** Uniform(-a, a) values with a = 1/sqrt(fan_in) (1 + small noise for norm weights, 0 for biases), as bytes of dtype. */
let state = 0x9e3779b9;
function fill(buf: Buffer, count: number, tensor: string, shape: number[]) {
  const f = new Float32Array(count);
  const norm = /layer_norm|LayerNorm\.weight/.test(tensor), bias = tensor.endsWith('.bias');
  const a = shape.length > 1 ? 1 / Math.sqrt(shape[shape.length - 1]) : 0.1;
  for (let i = 0; i < count; i++) {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
    const u = (state >>> 0) / 2 ** 32 * 2 - 1;
    f[i] = bias ? 0 : norm ? 1 + 0.1 * u : a * u;
  }
  if (spec.dtype === 'F32') return Buffer.from(f.buffer);
  const u32 = new Uint32Array(f.buffer), out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = u32[i] >>> 16; // bf16 by truncation: random values, any rounding will do
  buf.set(new Uint8Array(out.buffer));
  return buf.subarray(0, count * 2);
}

function writeFolder() {
  const free = statfsSync(path.dirname(dir)).bavail * statfsSync(path.dirname(dir)).bsize;
  if (free < weightBytes + 10 * 2 ** 30) throw new Error(`${gib(free)} GiB free: not enough for ${gib(weightBytes)} GiB of weights (use --layers)`);
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const shardBytes = 2 * 2 ** 30, shards: Array<Array<[string, number[]]>> = [[]];
  let size = 0;
  for (const t of tensors) {
    if (size > 0 && size + numel(t[1]) * elem > shardBytes) { shards.push([]); size = 0; }
    shards[shards.length - 1].push(t);
    size += numel(t[1]) * elem;
  }
  const pad = (k: number) => String(k).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const chunkValues = 4 << 20, chunk = Buffer.alloc(chunkValues * 4);
  shards.forEach((group, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const [n, s] of group) {
      header[n] = { dtype: spec.dtype, shape: s, data_offsets: [offset, offset + numel(s) * elem] };
      offset += numel(s) * elem;
      weightMap[n] = file;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
    const fd = openSync(path.join(partial, file), 'w');
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      writeSync(fd, len);
      writeSync(fd, Buffer.from(json));
      for (const [n, s] of group) {
        for (let left = numel(s); left > 0;) {
          const c = Math.min(left, chunkValues);
          writeSync(fd, fill(chunk, c, n, s));
          left -= c;
        }
      }
    } finally {
      closeSync(fd);
    }
    log(`  wrote ${file} (${gib(offset)} GiB)`);
  });
  writeFileSync(path.join(partial, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: weightBytes }, weight_map: weightMap }));
  writeFileSync(path.join(partial, 'config.json'), JSON.stringify({ ...spec.config, [name.startsWith('t5') ? 'num_layers' : 'num_hidden_layers']: layers, note: 'random weights (skipdit bench/text-encoders.ts)' }, null, 2));
  renameSync(partial, dir);
}

if (!existsSync(path.join(dir, 'config.json'))) {
  log(`writing ${name} (${layers} layers, ${gib(weightBytes)} GiB ${spec.dtype}) to ${path.relative(process.cwd(), dir)} (once)`);
  writeFolder();
}

// The child: load (peak RSS), then forwards and the measured peak, all in one process.
const here = path.dirname(fileURLToPath(import.meta.url));
const child = `
  const lib = await import(${JSON.stringify(path.join(here, '..', 'lib', 'index.js'))});
  const { native } = await import(${JSON.stringify(path.join(here, '..', 'lib', 'native.js'))});
  const fs = await import('node:fs');
  const status = () => Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n')
    .filter((l) => /^Vm(HWM|RSS):/.test(l)).map((l) => [l.split(':')[0], Number(l.split(/\\s+/)[1]) * 1024]));
  const [dir, dtype, L, runs] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  const before = status();
  const t0 = performance.now();
  const enc = await lib.loadTextEncoder(dir, { backend: 'cpu', dtype });
  const loadMs = performance.now() - t0;
  const loaded = status();
  const ids = { data: Int32Array.from({ length: L }, (_, i) => (i * 7919 + 3) % 20000), shape: [1, L] };
  const mask = { data: new Int32Array(L).fill(1), shape: [1, L] };
  const first = await enc.forward({ ids, mask });
  const finite = first.data.every(Number.isFinite);
  const times = [];
  for (let i = 0; i < runs; i++) { const s = performance.now(); await enc.forward({ ids, mask }); times.push(performance.now() - s); }
  const peak = native().measurePeak(0.5);
  console.log(JSON.stringify({ loadMs, baseline: before.VmRSS, loadPeak: loaded.VmHWM, peak: status().VmHWM, times, finite, measured: peak }));
`;
const dtype = spec.dtype === 'BF16' ? 'bfloat16' : 'float32';
execFileSync('sync');
const out = execFileSync(process.execPath, ['--input-type=module', '-e', child, dir, dtype, String(spec.tokens), values.runs!], { encoding: 'utf8', maxBuffer: 1 << 20 });
const r = JSON.parse(out.trim().split('\n').pop()!);
const sorted = [...r.times].sort((a: number, b: number) => a - b), median = sorted[sorted.length >> 1];
const flops = spec.flops(layers, spec.tokens);
const ceiling = dtype === 'bfloat16' && r.measured.bf16Gflops > 0 ? r.measured.bf16Gflops : r.measured.gflops;
const result = {
  model: name, layers, dtype, tokens: spec.tokens, weightBytes, loadSeconds: r.loadMs / 1000, baselineRss: r.baseline, loadPeakRss: r.loadPeak,
  peakRss: r.peak, peakOverWeights: r.loadPeak / weightBytes, medianMs: median, times: r.times, gflops: flops / 1e6 / median,
  peakGflops: ceiling, peakPercent: (100 * flops) / 1e6 / median / ceiling, finite: r.finite, isa: r.measured.isa,
};
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  log(`${name}: ${layers} layers, ${gib(weightBytes)} GiB ${spec.dtype} weights, 1 prompt of ${spec.tokens} tokens, cpu ${dtype}`);
  log(`load ${result.loadSeconds.toFixed(1)} s, peak RSS while loading ${gib(r.loadPeak)} GiB = ${result.peakOverWeights.toFixed(3)}x the weights (baseline ${gib(r.baseline)} GiB; after the forwards ${gib(r.peak)} GiB)`);
  log(`forward: median ${median.toFixed(0)} ms of ${r.times.length} (${r.times.map((t: number) => t.toFixed(0)).join(', ')}), ${(flops / 1e9).toFixed(1)} GFLOP, ${result.gflops.toFixed(1)} GFLOP/s = ${result.peakPercent.toFixed(0)}% of the measured ${dtype === 'bfloat16' ? 'bf16 dot-product' : 'fp32 FMA'} peak (${ceiling.toFixed(0)} GFLOP/s, ${r.measured.isa}); output finite: ${r.finite}`);
}
