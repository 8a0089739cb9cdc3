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
import { generator, randomTensor, safetensors, t5Tensors, temporalDecoderTensors, trainingCheckpoint } from './random-folders.js';

/** The tiny LatteT2V_skip: D 32 (2 heads), 4 layer pairs (2 skips), 16x16 latents of 4 frames, T5 width 32. */
export const tinyT2VConfig: ModelConfig = {
  family: 'latte-t2v', skip: true, hidden_size: 32, depth: 8, num_heads: 2, mlp_ratio: 4, in_channels: 4, input_size: 16,
  patch_size: 2, learn_sigma: true, num_classes: 0, class_dropout: false, num_frames: 4, caption_channels: 32,
};

const T5 = { d_model: 32, d_kv: 16, num_heads: 2, d_ff: 64, num_layers: 2, vocab_size: 1100, relative_attention_num_buckets: 32 };
// three up blocks: 4x upsampling, 64x64 pixels
const VAE = { latent_channels: 4, out_channels: 3, block_out_channels: [32, 32, 64], layers_per_block: 2 };

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
  write('text_encoder/model.safetensors', safetensors(t5Tensors(T5).map(([n, s]) => [n, s, randomTensor(n, s, next)]), 'F32'));
  mkdirSync(path.join(dir, 'tokenizer'), { recursive: true });
  copyFileSync(path.join(packageRoot(), 'test', 'fixtures', 'tokenizers-tiny', 'spiece.model'), path.join(dir, 'tokenizer', 'spiece.model'));
  written.push('tokenizer/spiece.model');
  write('vae_temporal_decoder/config.json', JSON.stringify({
    _class_name: 'AutoencoderKLTemporalDecoder', _diffusers_version: '0.24.0', ...VAE, in_channels: 3,
    down_block_types: VAE.block_out_channels.map(() => 'DownEncoderBlock2D'), force_upcast: true, sample_size: 64, scaling_factor: 0.18215,
  }, null, 2));
  write('vae_temporal_decoder/diffusion_pytorch_model.safetensors', safetensors(temporalDecoderTensors(VAE).map(([n, s]) => [n, s, randomTensor(n, s, next)]), 'F16'));
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
