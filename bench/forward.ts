// npm run bench: forward-pass timing of skipdit's CPU backend on random weights (no downloads), with
// achieved GFLOP/s. The side-by-side comparison with ONNX Runtime and the measured FMA peak come with the
// CPU speed work; this is the baseline harness.
//   node dist/bench/forward.js [--model S|B|tiny] [--batch 2] [--runs 5]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, normalizeConfig, type ModelConfig } from '../lib/index.js';
import { forwardFlops } from '../lib/flops.js';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'S' }, batch: { type: 'string', default: '2' }, runs: { type: 'string', default: '5' } },
});
const shapes: Record<string, Partial<ModelConfig>> = {
  tiny: { depth: 8, hidden_size: 64, num_heads: 4, input_size: 8 },
  S: { depth: 12, hidden_size: 384, num_heads: 6, input_size: 32 },
  B: { depth: 12, hidden_size: 768, num_heads: 12, input_size: 32 },
};
if (!(values.model! in shapes)) throw new Error(`--model must be one of ${Object.keys(shapes).join(', ')}`);
const config = normalizeConfig({ family: 'dit', skip: true, patch_size: 2, in_channels: 4, num_classes: 1000, ...shapes[values.model!] });
const batch = Number(values.batch);
const runs = Number(values.runs);

// Deterministic random weights with the official names, written as a safetensors file.
function writeRandomCheckpoint(file: string, c: ModelConfig): void {
  const D = c.hidden_size, p = c.patch_size, Hm = Math.floor(D * c.mlp_ratio), Cout = 2 * c.in_channels, T = (c.input_size / p) ** 2;
  const shapesByName: Record<string, number[]> = {
    pos_embed: [1, T, D], 'x_embedder.proj.weight': [D, c.in_channels, p, p], 'x_embedder.proj.bias': [D],
    't_embedder.mlp.0.weight': [D, 256], 't_embedder.mlp.0.bias': [D], 't_embedder.mlp.2.weight': [D, D], 't_embedder.mlp.2.bias': [D],
    'y_embedder.embedding_table.weight': [c.num_classes + 1, D],
    'final_layer.adaLN_modulation.1.weight': [2 * D, D], 'final_layer.adaLN_modulation.1.bias': [2 * D],
    'final_layer.linear.weight': [p * p * Cout, D], 'final_layer.linear.bias': [p * p * Cout],
  };
  for (let i = 0; i < c.depth; i++) {
    for (const [n, o, k] of [['attn.qkv', 3 * D, D], ['attn.proj', D, D], ['mlp.fc1', Hm, D], ['mlp.fc2', D, Hm], ['adaLN_modulation.1', 6 * D, D]] as const) {
      shapesByName[`blocks.${i}.${n}.weight`] = [o, k];
      shapesByName[`blocks.${i}.${n}.bias`] = [o];
    }
  }
  for (let j = 0; j < c.depth / 2; j++) {
    shapesByName[`skip_norms.${j}.weight`] = [2 * D];
    shapesByName[`skip_norms.${j}.bias`] = [2 * D];
    shapesByName[`skip_linears.${j}.linear.weight`] = [D, 2 * D];
    shapesByName[`skip_linears.${j}.linear.bias`] = [D];
  }
  let seed = 12345;
  const header: Record<string, unknown> = { __metadata__: { config: JSON.stringify(c) } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, shape] of Object.entries(shapesByName)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const scale = shape.length > 1 ? 1 / Math.sqrt(shape[1]) : 0.1;
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      data[i] = ((seed / 2 ** 32) * 2 - 1) * scale;
    }
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
    chunks.push(Buffer.from(data.buffer));
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, ...chunks]));
}

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-bench-'));
try {
  const file = path.join(dir, 'model.safetensors');
  writeRandomCheckpoint(file, config);
  const model = await loadModel(file, { backend: 'cpu' });
  const shape = [batch, config.in_channels, config.input_size, config.input_size];
  const x = { data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i)), shape };
  const input = { x, t: 500, y: Array.from({ length: batch }, (_, i) => i) };
  await model.forward(input); // warm-up: sizes the workspace
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await model.forward(input);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const gflop = forwardFlops(config, batch) / 1e9;
  console.log(`DiT-${values.model}/2-skip  batch ${batch}  ${gflop.toFixed(2)} GFLOP/forward`);
  console.log(`skipdit cpu: median ${median.toFixed(1)} ms over ${runs} runs (min ${times[0].toFixed(1)}), ${(gflop / (median / 1000)).toFixed(1)} GFLOP/s`);
  model.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
