// A tiny text-to-video model folder with seeded random weights, laid out as sample_t2v.py's files are
// (maxin-cn/Latte-1 + GuanjieChen/Skip-DiT's Latte-skip.pt):
//   Latte-skip.pt                       torch.save({'model': sd, 'ema': sd'}) of a LatteT2V_skip (ema is used)
//   transformer/config.json             num_attention_heads, sample_size (the diffusers config)
//   text_encoder/config.json + model.safetensors   a T5 encoder (d_model = caption_channels)
//   tokenizer/spiece.model              the SentencePiece model of test/fixtures/tokenizers-tiny
//   vae_temporal_decoder/config.json + diffusion_pytorch_model.safetensors (F16)   an SVD temporal decoder
//   scheduler/scheduler_config.json     the DDIM config of Latte-1
// so that `skipdit generate --model <dir> --prompt ...` runs the whole pipeline. Usage:
//   node dist/bench/tiny-t2v.js <dir>
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelParams } from '../lib/architecture.js';
import type { ModelConfig } from '../lib/config.js';
import { packageRoot } from '../lib/native.js';
import { PickleWriter, writeTorchCheckpoint } from './torch-zip.js';

/** The tiny LatteT2V_skip: D 32 (2 heads), 4 layer pairs (2 skips), 16x16 latents of 4 frames, T5 width 32. */
export const tinyT2VConfig: ModelConfig = {
  family: 'latte-t2v', skip: true, hidden_size: 32, depth: 8, num_heads: 2, mlp_ratio: 4, in_channels: 4, input_size: 16,
  patch_size: 2, learn_sigma: true, num_classes: 0, class_dropout: false, num_frames: 4, caption_channels: 32,
};

const T5 = { d_model: 32, d_kv: 16, num_heads: 2, d_ff: 64, num_layers: 2, vocab_size: 1100, relative_attention_num_buckets: 32 };
// three up blocks: 4x upsampling, 64x64 pixels
const VAE = { latent_channels: 4, out_channels: 3, block_out_channels: [32, 32, 64], layers_per_block: 2 };

/** A seeded generator of N(0, 1)-ish values (sum of uniforms), deterministic across platforms. */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return () => (u() + u() + u() - 1.5) * 2;
}

/** Weights N/sqrt(fan_in), biases 0.1 N, norms 1 + 0.1 N (as the fixtures' random_weights). */
function randomTensor(name: string, shape: number[], next: () => number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const norm = /norm|layer_norm/.test(name) && name.endsWith('weight') && shape.length === 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z = next();
    out[i] = norm ? 1 + 0.1 * z : shape.length === 1 ? 0.1 * z : z / Math.sqrt(fanIn);
  }
  return out;
}

/** A safetensors file of float tensors (F32, or F16 by rounding), in the given order. */
function safetensors(tensors: Array<[string, number[], Float32Array]>, dtype: 'F32' | 'F16'): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const datas: Buffer[] = [];
  let offset = 0;
  for (const [name, shape, values] of tensors) {
    const data = dtype === 'F32' ? Buffer.from(values.buffer, values.byteOffset, values.byteLength) : toF16(values);
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    datas.push(data);
    offset += data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...datas]);
}

function toF16(values: Float32Array): Buffer {
  const out = Buffer.alloc(values.length * 2);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  values.forEach((v, i) => {
    f[0] = v;
    const x = u[0], sign = (x >>> 16) & 0x8000, exp = ((x >>> 23) & 0xff) - 112, mant = x & 0x7fffff;
    // |v| < 2^-14 flushes to zero (values here are O(0.01..1)); round to nearest on the dropped 13 bits
    const h = exp <= 0 ? 0 : exp >= 31 ? 0x7c00 : (exp << 10) | (mant >>> 13);
    out.writeUInt16LE(sign | (h + (exp > 0 && exp < 31 && (mant & 0x1fff) > 0x1000 ? 1 : 0)), i * 2);
  });
  return out;
}

/** The T5 encoder's state dict names and shapes (T5EncoderModel, gated-gelu). */
function t5Tensors(): Array<[string, number[]]> {
  const { d_model: D, d_kv: KV, num_heads: H, d_ff: FF } = T5;
  const out: Array<[string, number[]]> = [['shared.weight', [T5.vocab_size, D]]];
  for (let i = 0; i < T5.num_layers; i++) {
    const a = `encoder.block.${i}.layer.0.`, f = `encoder.block.${i}.layer.1.`;
    for (const p of ['q', 'k', 'v']) out.push([`${a}SelfAttention.${p}.weight`, [H * KV, D]]);
    out.push([`${a}SelfAttention.o.weight`, [D, H * KV]]);
    if (i === 0) out.push([`${a}SelfAttention.relative_attention_bias.weight`, [T5.relative_attention_num_buckets, H]]);
    out.push([`${a}layer_norm.weight`, [D]]);
    out.push([`${f}DenseReluDense.wi_0.weight`, [FF, D]], [`${f}DenseReluDense.wi_1.weight`, [FF, D]], [`${f}DenseReluDense.wo.weight`, [D, FF]]);
    out.push([`${f}layer_norm.weight`, [D]]);
  }
  out.push(['encoder.final_layer_norm.weight', [D]]);
  return out;
}

/** AutoencoderKLTemporalDecoder's decoder names and shapes (diffusers 0.24), for VAE's channels. */
function temporalDecoderTensors(): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  const conv = (name: string, cout: number, cin: number, k: number[]) => out.push([`${name}.weight`, [cout, cin, ...k]], [`${name}.bias`, [cout]]);
  const norm = (name: string, c: number) => out.push([`${name}.weight`, [c]], [`${name}.bias`, [c]]);
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.spatial_res_block.norm1`, cin);
    conv(`${name}.spatial_res_block.conv1`, cout, cin, [3, 3]);
    norm(`${name}.spatial_res_block.norm2`, cout);
    conv(`${name}.spatial_res_block.conv2`, cout, cout, [3, 3]);
    if (cin !== cout) conv(`${name}.spatial_res_block.conv_shortcut`, cout, cin, [1, 1]);
    norm(`${name}.temporal_res_block.norm1`, cout);
    conv(`${name}.temporal_res_block.conv1`, cout, cout, [3, 1, 1]);
    norm(`${name}.temporal_res_block.norm2`, cout);
    conv(`${name}.temporal_res_block.conv2`, cout, cout, [3, 1, 1]);
    out.push([`${name}.time_mixer.mix_factor`, [1]]);
  };
  const channels = [...VAE.block_out_channels].reverse();
  const top = channels[0];
  conv('decoder.conv_in', top, VAE.latent_channels, [3, 3]);
  norm('decoder.mid_block.attentions.0.group_norm', top);
  for (const p of ['to_q', 'to_k', 'to_v', 'to_out.0']) out.push([`decoder.mid_block.attentions.0.${p}.weight`, [top, top]], [`decoder.mid_block.attentions.0.${p}.bias`, [top]]);
  for (let j = 0; j < VAE.layers_per_block; j++) resnet(`decoder.mid_block.resnets.${j}`, top, top);
  let cin = top;
  channels.forEach((c, i) => {
    for (let j = 0; j <= VAE.layers_per_block; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? cin : c, c);
    if (i < channels.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c, [3, 3]);
    cin = c;
  });
  norm('decoder.conv_norm_out', VAE.block_out_channels[0]);
  conv('decoder.conv_out', VAE.out_channels, VAE.block_out_channels[0], [3, 3]);
  conv('decoder.time_conv_out', VAE.out_channels, VAE.out_channels, [3, 1, 1]);
  return out;
}

/** torch.save({'model': a, 'ema': b}) of two state dicts with the same names and shapes. */
function trainingCheckpoint(file: string, names: Array<[string, number[]]>, model: Float32Array[], ema: Float32Array[]): void {
  const storages: Array<{ key: string; data: Buffer }> = [];
  const dict = (values: Float32Array[]) => names.map(([name, shape], i) => {
    const key = String(storages.length);
    storages.push({ key, data: Buffer.from(values[i].buffer, values[i].byteOffset, values[i].byteLength) });
    return { name, dtype: 'F32' as const, key, storageNumel: values[i].length, shape };
  });
  const w = new PickleWriter().op('}').op('(');
  w.str('model').stateDict(dict(model));
  w.str('ema').stateDict(dict(ema));
  writeTorchCheckpoint(file, 'archive', w.op('u').done(), storages);
}

/** Writes the folder; returns the file names written. */
export function writeTinyT2VFolder(dir: string, seed = 7): string[] {
  const written: string[] = [];
  const write = (rel: string, data: string | Buffer) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
    written.push(rel);
  };
  const next = generator(seed);
  const c = tinyT2VConfig;
  const names = modelParams(c).map((p) => [p.name, [...p.shape]] as [string, number[]]);
  const model = names.map(([n, s]) => randomTensor(n, s, next));
  const ema = names.map(([n, s]) => randomTensor(n, s, next));
  mkdirSync(dir, { recursive: true });
  trainingCheckpoint(path.join(dir, 'Latte-skip.pt'), names, model, ema);
  written.push('Latte-skip.pt');
  write('transformer/config.json', JSON.stringify({
    _class_name: 'LatteT2VTransformer3DModel', num_attention_heads: c.num_heads, attention_head_dim: c.hidden_size / c.num_heads,
    in_channels: c.in_channels, out_channels: 2 * c.in_channels, num_layers: c.depth / 2, sample_size: c.input_size, patch_size: c.patch_size,
    caption_channels: c.caption_channels, cross_attention_dim: c.hidden_size, norm_type: 'ada_norm_single', norm_elementwise_affine: false, norm_eps: 1e-6,
    activation_fn: 'gelu-approximate', video_length: c.num_frames,
  }, null, 2));
  write('text_encoder/config.json', JSON.stringify({
    architectures: ['T5EncoderModel'], model_type: 't5', ...T5, feed_forward_proj: 'gated-gelu', relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6,
  }, null, 2));
  write('text_encoder/model.safetensors', safetensors(t5Tensors().map(([n, s]) => [n, s, randomTensor(n, s, next)]), 'F32'));
  mkdirSync(path.join(dir, 'tokenizer'), { recursive: true });
  copyFileSync(path.join(packageRoot(), 'test', 'fixtures', 'tokenizers-tiny', 'spiece.model'), path.join(dir, 'tokenizer', 'spiece.model'));
  written.push('tokenizer/spiece.model');
  write('vae_temporal_decoder/config.json', JSON.stringify({
    _class_name: 'AutoencoderKLTemporalDecoder', _diffusers_version: '0.24.0', ...VAE, in_channels: 3,
    down_block_types: VAE.block_out_channels.map(() => 'DownEncoderBlock2D'), force_upcast: true, sample_size: 64, scaling_factor: 0.18215,
  }, null, 2));
  write('vae_temporal_decoder/diffusion_pytorch_model.safetensors', safetensors(temporalDecoderTensors().map(([n, s]) => [n, s, randomTensor(n, s, next)]), 'F16'));
  write('scheduler/scheduler_config.json', JSON.stringify({
    _class_name: 'DDIMScheduler', beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', clip_sample: false, num_train_timesteps: 1000,
    prediction_type: 'epsilon', set_alpha_to_one: true, steps_offset: 0, timestep_spacing: 'leading',
  }, null, 2));
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node dist/bench/tiny-t2v.js <dir>');
    process.exit(2);
  }
  console.log(`wrote ${writeTinyT2VFolder(dir).map((f) => path.join(dir, f)).join('\n      ')}`);
}
