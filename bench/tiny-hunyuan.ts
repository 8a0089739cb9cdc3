// A tiny Hunyuan-DiT download with seeded random weights, laid out as Tencent-Hunyuan/HunyuanDiT-v1.2's t2i/:
//   t2i/model/pytorch_model_ema.pt        torch.save(state_dict) of a HunYuanDiT (D 32, depth 4, 2 heads)
//   t2i/clip_text_encoder/                a BertModel (config.json + model.safetensors), hidden 16
//   t2i/tokenizer/vocab.txt               the WordPiece vocabulary of test/fixtures/tokenizers-tiny
//   t2i/mt5/                              a T5 encoder (d_model 24) + spiece.model (test/fixtures/tokenizers-tiny)
//   t2i/sdxl-vae-fp16-fix/                an AutoencoderKL (config.json with scaling_factor 0.13025 + weights)
// so that `skipdit generate --model <dir> --prompt ...` runs the whole sample_t2i.py pipeline. Usage:
//   node dist/bench/tiny-hunyuan.js <dir>
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelParams } from '../lib/architecture.js';
import type { ModelConfig } from '../lib/config.js';
import { packageRoot } from '../lib/native.js';
import { bertTensors, decoderTensors, generator, randomTensor, safetensors, stateDictCheckpoint, t5Tensors } from './random-folders.js';

/** The tiny HunYuanDiT: D 32 (2 heads of 16), depth 4, BERT 16 x 16 text, mT5 12 x 24 text, 8x8 latents (64 px). */
export const tinyHunyuanConfig: ModelConfig = {
  family: 'hunyuan-dit', skip: true, hidden_size: 32, depth: 4, num_heads: 2, mlp_ratio: 4.3637, in_channels: 4, input_size: 8,
  patch_size: 2, learn_sigma: true, num_classes: 0, class_dropout: false, num_frames: 1,
  text_states_dim: 16, text_len: 16, text_states_dim_t5: 24, text_len_t5: 12,
};
const BERT = { hidden_size: 16, intermediate_size: 32, vocab_size: 727, max_position_embeddings: 32, num_hidden_layers: 2, num_attention_heads: 2 };
const T5 = { d_model: 24, d_kv: 12, num_heads: 2, d_ff: 48, num_layers: 2, vocab_size: 1100, relative_attention_num_buckets: 32 };
const VAE = { latent_channels: 4, out_channels: 3, block_out_channels: [32, 32, 64, 64], layers_per_block: 2 };

export function writeTinyHunyuanFolder(dir: string, seed = 11): string[] {
  const written: string[] = [];
  const write = (rel: string, data: string | Buffer) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
    written.push(rel);
  };
  const copy = (fixture: string, rel: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    copyFileSync(path.join(packageRoot(), 'test', 'fixtures', 'tokenizers-tiny', fixture), path.join(dir, rel));
    written.push(rel);
  };
  const next = generator(seed);
  const names = modelParams(tinyHunyuanConfig).map((p) => [p.name, [...p.shape]] as [string, number[]]);
  mkdirSync(path.join(dir, 't2i', 'model'), { recursive: true });
  stateDictCheckpoint(path.join(dir, 't2i', 'model', 'pytorch_model_ema.pt'), names, names.map(([n, s]) => randomTensor(n, s, next)));
  written.push('t2i/model/pytorch_model_ema.pt');
  write('t2i/clip_text_encoder/config.json', JSON.stringify({
    architectures: ['BertModel'], model_type: 'bert', ...BERT, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu',
  }, null, 2));
  write('t2i/clip_text_encoder/model.safetensors', safetensors(bertTensors(BERT).map(([n, s]) => [n, s, randomTensor(n, s, next)]), 'F32'));
  // the tokenizer pads to model_max_length = text_len (the official code requires 77 = text_len)
  copy('vocab.txt', 't2i/tokenizer/vocab.txt');
  write('t2i/tokenizer/tokenizer_config.json', JSON.stringify({ do_lower_case: true, model_max_length: tinyHunyuanConfig.text_len }, null, 2));
  write('t2i/mt5/config.json', JSON.stringify({
    architectures: ['T5EncoderModel'], model_type: 'mt5', ...T5, feed_forward_proj: 'gated-gelu', relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6,
  }, null, 2));
  write('t2i/mt5/model.safetensors', safetensors(t5Tensors(T5).map(([n, s]) => [n, s, randomTensor(n, s, next)]), 'F32'));
  copy('spiece.model', 't2i/mt5/spiece.model');
  write('t2i/sdxl-vae-fp16-fix/config.json', JSON.stringify({
    _class_name: 'AutoencoderKL', ...VAE, in_channels: 3, norm_num_groups: 32, sample_size: 64, scaling_factor: 0.13025, force_upcast: false,
    down_block_types: VAE.block_out_channels.map(() => 'DownEncoderBlock2D'), up_block_types: VAE.block_out_channels.map(() => 'UpDecoderBlock2D'),
  }, null, 2));
  write('t2i/sdxl-vae-fp16-fix/diffusion_pytorch_model.safetensors', safetensors(decoderTensors(VAE, false).map(([n, s]) => [n, s, randomTensor(n, s, next)]), 'F32'));
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node dist/bench/tiny-hunyuan.js <dir>');
    process.exit(2);
  }
  console.log(`wrote ${writeTinyHunyuanFolder(dir).map((f) => path.join(dir, f)).join('\n      ')}`);
}
