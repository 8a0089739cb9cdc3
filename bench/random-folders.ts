// Seeded random weights in the layouts users download (diffusers / transformers folders, torch training
// checkpoints), for the tiny end-to-end folders (tiny-t2v.ts, tiny-hunyuan.ts): no downloads in tests.
import { PickleWriter, writeTorchCheckpoint } from './torch-zip.js';

export interface T5Sizes { d_model: number; d_kv: number; num_heads: number; d_ff: number; num_layers: number; vocab_size: number; relative_attention_num_buckets: number }
export interface VaeSizes { latent_channels: number; out_channels: number; block_out_channels: number[]; layers_per_block: number }

/** A seeded generator of N(0, 1)-ish values (sum of uniforms), deterministic across platforms. */
export function generator(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return () => (u() + u() + u() - 1.5) * 2;
}

/** Weights N/sqrt(fan_in), biases 0.1 N, norms 1 + 0.1 N (as the fixtures' random_weights). */
export function randomTensor(name: string, shape: number[], next: () => number): Float32Array {
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
export function safetensors(tensors: Array<[string, number[], Float32Array]>, dtype: 'F32' | 'F16'): Buffer {
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

export function toF16(values: Float32Array): Buffer {
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
export function t5Tensors(T5: T5Sizes): Array<[string, number[]]> {
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

/**
 * A diffusers VAE decoder's names and shapes: AutoencoderKLTemporalDecoder's (diffusers 0.24; temporal: true) or
 * AutoencoderKL's (post_quant_conv, plain ResnetBlock2D; temporal: false).
 */
export function decoderTensors(VAE: VaeSizes, temporal: boolean): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  const conv = (name: string, cout: number, cin: number, k: number[]) => out.push([`${name}.weight`, [cout, cin, ...k]], [`${name}.bias`, [cout]]);
  const norm = (name: string, c: number) => out.push([`${name}.weight`, [c]], [`${name}.bias`, [c]]);
  const resnet = (name: string, cin: number, cout: number) => {
    const spatial = temporal ? `${name}.spatial_res_block` : name;
    norm(`${spatial}.norm1`, cin);
    conv(`${spatial}.conv1`, cout, cin, [3, 3]);
    norm(`${spatial}.norm2`, cout);
    conv(`${spatial}.conv2`, cout, cout, [3, 3]);
    if (cin !== cout) conv(`${spatial}.conv_shortcut`, cout, cin, [1, 1]);
    if (!temporal) return;
    norm(`${name}.temporal_res_block.norm1`, cout);
    conv(`${name}.temporal_res_block.conv1`, cout, cout, [3, 1, 1]);
    norm(`${name}.temporal_res_block.norm2`, cout);
    conv(`${name}.temporal_res_block.conv2`, cout, cout, [3, 1, 1]);
    out.push([`${name}.time_mixer.mix_factor`, [1]]);
  };
  const channels = [...VAE.block_out_channels].reverse();
  const top = channels[0];
  if (!temporal) conv('post_quant_conv', VAE.latent_channels, VAE.latent_channels, [1, 1]);
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
  if (temporal) conv('decoder.time_conv_out', VAE.out_channels, VAE.out_channels, [3, 1, 1]);
  return out;
}

export const temporalDecoderTensors = (VAE: VaeSizes) => decoderTensors(VAE, true);

/** BertModel's state dict names and shapes (no pooler). */
export function bertTensors(b: { hidden_size: number; intermediate_size: number; vocab_size: number; max_position_embeddings: number; num_hidden_layers: number }): Array<[string, number[]]> {
  const D = b.hidden_size, FF = b.intermediate_size;
  const out: Array<[string, number[]]> = [
    ['embeddings.word_embeddings.weight', [b.vocab_size, D]], ['embeddings.position_embeddings.weight', [b.max_position_embeddings, D]],
    ['embeddings.token_type_embeddings.weight', [2, D]], ['embeddings.LayerNorm.weight', [D]], ['embeddings.LayerNorm.bias', [D]],
  ];
  for (let i = 0; i < b.num_hidden_layers; i++) {
    const p = `encoder.layer.${i}.`;
    for (const m of ['query', 'key', 'value']) out.push([`${p}attention.self.${m}.weight`, [D, D]], [`${p}attention.self.${m}.bias`, [D]]);
    out.push([`${p}attention.output.dense.weight`, [D, D]], [`${p}attention.output.dense.bias`, [D]]);
    out.push([`${p}attention.output.LayerNorm.weight`, [D]], [`${p}attention.output.LayerNorm.bias`, [D]]);
    out.push([`${p}intermediate.dense.weight`, [FF, D]], [`${p}intermediate.dense.bias`, [FF]]);
    out.push([`${p}output.dense.weight`, [D, FF]], [`${p}output.dense.bias`, [D]]);
    out.push([`${p}output.LayerNorm.weight`, [D]], [`${p}output.LayerNorm.bias`, [D]]);
  }
  return out;
}

/** torch.save({'model': a, 'ema': b}) of two state dicts with the same names and shapes. */
export function trainingCheckpoint(file: string, names: Array<[string, number[]]>, model: Float32Array[], ema: Float32Array[]): void {
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


/** torch.save(state_dict) of one state dict (a bare OrderedDict, as Hunyuan-DiT's pytorch_model_ema.pt). */
export function stateDictCheckpoint(file: string, names: Array<[string, number[]]>, values: Float32Array[]): void {
  const storages = values.map((v, i) => ({ key: String(i), data: Buffer.from(v.buffer, v.byteOffset, v.byteLength) }));
  const pickle = new PickleWriter().stateDict(names.map(([name, shape], i) => ({ name, dtype: 'F32' as const, key: String(i), storageNumel: values[i].length, shape }))).done();
  writeTorchCheckpoint(file, 'archive', pickle, storages);
}
