// Model configurations: the official constructor arguments, named presets for the released checkpoints,
// and resolution of the config of a weights file (explicit > file metadata, checked against its tensors).
import type { NativeModelConfig } from '../binding.js';
import { modelParams } from './architecture.js';
import { CheckpointError, InvalidArgumentError, describe } from './errors.js';

export type ModelConfig = NativeModelConfig;
export type ModelFamily = ModelConfig['family'];

/**
 * A config as the caller or a file's metadata gives it: ModelConfig fields, plus the official constructor
 * arguments they stand for. normalizeConfig() maps these onto num_classes / class_dropout.
 */
export interface ModelConfigInput extends Partial<ModelConfig> {
  /**
   * The official LabelEmbedder's dropout probability, in [0, 1]. Only its sign matters at inference
   * (use_cfg_embedding = class_dropout_prob > 0): > 0 adds the null class row (classifier-free guidance),
   * 0 means a table of num_classes rows and no guidance. Sets class_dropout.
   */
  class_dropout_prob?: number;
  /**
   * Latte only, the official conditioning mode: 1 unconditional (num_classes is then ignored, as the official
   * constructor does), 2 class-conditional; 78 (text-conditioned) is not supported yet.
   */
  extras?: number;
}

const XL = { hidden_size: 1152, depth: 28, num_heads: 16, mlp_ratio: 4.0 } as const;
const common = { in_channels: 4, input_size: 32, learn_sigma: true, class_dropout: true } as const;

/** Configs of the released models (DiT: ImageNet 256, latent 32x32; Latte: UCF-101 / unconditional, 16 frames). */
export const presets = {
  'DiT-XL/2-skip': { family: 'dit', skip: true, ...XL, ...common, patch_size: 2, num_classes: 1000, num_frames: 1 },
  'DiT-XL/2': { family: 'dit', skip: false, ...XL, ...common, patch_size: 2, num_classes: 1000, num_frames: 1 },
  'Latte-XL/2-skip': { family: 'latte', skip: true, ...XL, ...common, patch_size: 2, num_classes: 101, num_frames: 16 },
  'Latte-XL/2-skip-uncond': {
    family: 'latte', skip: true, ...XL, ...common, patch_size: 2, num_classes: 0, class_dropout: false, num_frames: 16,
  },
  'DiT-B/2-skip': {
    family: 'dit', skip: true, hidden_size: 768, depth: 12, num_heads: 12, mlp_ratio: 4.0, ...common, patch_size: 2,
    num_classes: 1000, num_frames: 1,
  },
} satisfies Record<string, ModelConfig>;

export type PresetName = keyof typeof presets;

const integerFields = [
  'input_size', 'patch_size', 'in_channels', 'hidden_size', 'depth', 'num_heads', 'num_classes', 'num_frames',
] as const;

/**
 * Completes and checks a (partial) config: unknown keys, non-integers and impossible combinations are
 * InvalidArgumentError naming the field. `family` is required; other fields default to DiT-XL/2-skip's.
 */
export function normalizeConfig(input: ModelConfigInput & Record<string, unknown>, where = 'config'): ModelConfig {
  if (typeof input !== 'object' || input === null) throw InvalidArgumentError.expected(where, 'an object', input);
  if (input.family === 'latte-t2v') return normalizeT2VConfig(input, where);
  if (input.family === 'hunyuan-dit') return normalizeHunyuanConfig(input, where);
  const known = new Set([...integerFields, 'family', 'skip', 'mlp_ratio', 'class_dropout', 'learn_sigma', 'class_dropout_prob', 'extras']);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw InvalidArgumentError.expected(`${where}.${key}`, `one of the keys ${[...known].join(', ')}`, key);
  }
  if (input.family !== 'dit' && input.family !== 'latte') {
    throw InvalidArgumentError.expected(`${where}.family`, "'dit', 'latte' or 'latte-t2v'", input.family);
  }
  const { class_dropout_prob: dropout, extras, ...fields } = input;
  if (dropout !== undefined) {
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1)) {
      throw InvalidArgumentError.expected(`${where}.class_dropout_prob`, 'a probability in [0, 1]', dropout);
    }
    if (fields.class_dropout !== undefined && fields.class_dropout !== dropout > 0) {
      throw InvalidArgumentError.expected(`${where}.class_dropout`, `${dropout > 0} (class_dropout_prob ${dropout} ${dropout > 0 ? 'adds' : 'means no'} null class)`, fields.class_dropout);
    }
    fields.class_dropout = dropout > 0;
  }
  if (extras !== undefined) {
    if (input.family !== 'latte') throw InvalidArgumentError.expected(`${where}.extras`, 'no extras for DiT (a Latte argument)', extras);
    if (extras === 78) throw InvalidArgumentError.expected(`${where}.extras`, '1 (unconditional) or 2 (class-conditional): text-conditioned Latte (78) is not supported yet', extras);
    if (extras !== 1 && extras !== 2) throw InvalidArgumentError.expected(`${where}.extras`, '1 (unconditional) or 2 (class-conditional)', extras);
    // The official Latte builds no label embedder unless extras == 2, whatever num_classes says.
    if (extras === 1) fields.num_classes = 0;
    else if (fields.num_classes === 0) throw InvalidArgumentError.expected(`${where}.num_classes`, 'a positive class count with extras 2 (class-conditional)', 0);
  }
  const base = input.family === 'dit' ? presets['DiT-XL/2-skip'] : presets['Latte-XL/2-skip'];
  const c: ModelConfig = { ...base, ...fields } as ModelConfig;
  for (const key of integerFields) {
    const v = c[key];
    const min = key === 'num_classes' ? 0 : 1;
    if (!Number.isInteger(v) || v < min || v > 1e7) throw InvalidArgumentError.expected(`${where}.${key}`, `an integer >= ${min}`, v);
  }
  if (typeof c.mlp_ratio !== 'number' || !(c.mlp_ratio > 0) || !Number.isFinite(c.mlp_ratio)) {
    throw InvalidArgumentError.expected(`${where}.mlp_ratio`, 'a positive number', c.mlp_ratio);
  }
  for (const key of ['skip', 'class_dropout', 'learn_sigma'] as const) {
    if (typeof c[key] !== 'boolean') throw InvalidArgumentError.expected(`${where}.${key}`, 'a boolean', c[key]);
  }
  if (c.num_classes === 0) c.class_dropout = false; // no label table, so no null row
  if (c.input_size % c.patch_size !== 0) {
    throw InvalidArgumentError.expected(`${where}.input_size`, `a multiple of patch_size ${c.patch_size}`, c.input_size);
  }
  if (c.hidden_size % c.num_heads !== 0) {
    throw InvalidArgumentError.expected(`${where}.num_heads`, `a divisor of hidden_size ${c.hidden_size}`, c.num_heads);
  }
  if (c.family === 'dit') {
    if (c.num_classes < 1) throw InvalidArgumentError.expected(`${where}.num_classes`, 'a positive class count for DiT', c.num_classes);
    if (c.skip && c.depth % 2 !== 0) throw InvalidArgumentError.expected(`${where}.depth`, 'an even depth for DiT-skip', c.depth);
    c.num_frames = 1;
  } else {
    if (c.depth % 2 !== 0) throw InvalidArgumentError.expected(`${where}.depth`, 'an even depth for Latte (block pairs)', c.depth);
    if (c.skip && c.depth % 4 !== 0) throw InvalidArgumentError.expected(`${where}.depth`, 'a multiple of 4 for Latte-skip', c.depth);
  }
  return c;
}

/**
 * maxin-cn/Latte-0's transformer (LatteT2V_skip with video_length 16) in ModelConfig terms: depth counts blocks
 * (2 x num_layers = 56), input_size = sample_size (64), num_frames = video_length.
 */
export const latteT2VBase = {
  family: 'latte-t2v', skip: true, hidden_size: 1152, depth: 56, num_heads: 16, mlp_ratio: 4.0, in_channels: 4, input_size: 64,
  patch_size: 2, learn_sigma: true, num_classes: 0, class_dropout: false, num_frames: 16, caption_channels: 4096,
} as const satisfies ModelConfig;

/** normalizeConfig for family 'latte-t2v' (text-conditioned: no labels; caption_channels required > 0). */
function normalizeT2VConfig(input: ModelConfigInput & Record<string, unknown>, where: string): ModelConfig {
  const known = new Set([...integerFields, 'caption_channels', 'family', 'skip', 'mlp_ratio', 'class_dropout', 'learn_sigma']);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw InvalidArgumentError.expected(`${where}.${key}`, `one of the keys ${[...known].join(', ')}`, key);
  }
  const c: ModelConfig = { ...latteT2VBase, ...input } as ModelConfig;
  for (const key of [...integerFields, 'caption_channels'] as const) {
    const v = c[key];
    const min = key === 'num_classes' ? 0 : 1;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > 1e7) throw InvalidArgumentError.expected(`${where}.${key}`, `an integer >= ${min}`, v);
  }
  if (c.num_classes !== 0) throw InvalidArgumentError.expected(`${where}.num_classes`, '0 (LatteT2V is text-conditioned)', c.num_classes);
  if (c.class_dropout !== false) throw InvalidArgumentError.expected(`${where}.class_dropout`, 'false (LatteT2V has no label table)', c.class_dropout);
  if (typeof c.mlp_ratio !== 'number' || !(c.mlp_ratio > 0) || !Number.isFinite(c.mlp_ratio)) {
    throw InvalidArgumentError.expected(`${where}.mlp_ratio`, 'a positive number', c.mlp_ratio);
  }
  for (const key of ['skip', 'learn_sigma'] as const) {
    if (typeof c[key] !== 'boolean') throw InvalidArgumentError.expected(`${where}.${key}`, 'a boolean', c[key]);
  }
  if (c.input_size % c.patch_size !== 0) throw InvalidArgumentError.expected(`${where}.input_size`, `a multiple of patch_size ${c.patch_size}`, c.input_size);
  if (c.hidden_size % c.num_heads !== 0) throw InvalidArgumentError.expected(`${where}.num_heads`, `a divisor of hidden_size ${c.hidden_size}`, c.num_heads);
  if (c.depth % 2 !== 0) throw InvalidArgumentError.expected(`${where}.depth`, 'an even block count (2 x num_layers)', c.depth);
  if (c.skip && c.depth % 4 !== 0) throw InvalidArgumentError.expected(`${where}.depth`, 'a multiple of 4 with skip branches (an even num_layers)', c.depth);
  return c;
}

/**
 * Hunyuan-DiT v1.2 (`t2i/model/pytorch_model_ema.pt`: DiT-g/2, 1.5 B parameters) in ModelConfig terms: latent
 * 128x128 (1024x1024 pixels) by default, any multiple of the patch per call; BERT 77 x 1024, mT5 256 x 2048.
 */
export const hunyuanV12Base = {
  family: 'hunyuan-dit', skip: true, hidden_size: 1408, depth: 40, num_heads: 16, mlp_ratio: 4.3637, in_channels: 4, input_size: 128,
  patch_size: 2, learn_sigma: true, num_classes: 0, class_dropout: false, num_frames: 1,
  text_states_dim: 1024, text_len: 77, text_states_dim_t5: 2048, text_len_t5: 256,
} as const satisfies ModelConfig;

const hunyuanFields = ['text_states_dim', 'text_len', 'text_states_dim_t5', 'text_len_t5'] as const;

/** normalizeConfig for family 'hunyuan-dit' (text-conditioned; long skips built in; an even depth). */
function normalizeHunyuanConfig(input: ModelConfigInput & Record<string, unknown>, where: string): ModelConfig {
  const known = new Set([...integerFields, ...hunyuanFields, 'family', 'skip', 'mlp_ratio', 'class_dropout', 'learn_sigma', 'size_cond', 'style_cond']);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw InvalidArgumentError.expected(`${where}.${key}`, `one of the keys ${[...known].join(', ')}`, key);
  }
  const c: ModelConfig = { ...hunyuanV12Base, ...input } as ModelConfig;
  for (const key of [...integerFields, ...hunyuanFields] as const) {
    const v = c[key];
    const min = key === 'num_classes' ? 0 : 1;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > 1e7) throw InvalidArgumentError.expected(`${where}.${key}`, `an integer >= ${min}`, v);
  }
  if (c.num_classes !== 0) throw InvalidArgumentError.expected(`${where}.num_classes`, '0 (Hunyuan-DiT is text-conditioned)', c.num_classes);
  for (const key of ['size_cond', 'style_cond'] as const) {
    c[key] ??= false;
    if (typeof c[key] !== 'boolean') throw InvalidArgumentError.expected(`${where}.${key}`, 'a boolean (v1.1 conditions)', c[key]);
  }
  if (c.skip !== true) throw InvalidArgumentError.expected(`${where}.skip`, 'true (the long skips are part of Hunyuan-DiT)', c.skip);
  if (c.num_frames !== 1) throw InvalidArgumentError.expected(`${where}.num_frames`, '1 (an image model)', c.num_frames);
  if (typeof c.mlp_ratio !== 'number' || !(c.mlp_ratio > 0) || !Number.isFinite(c.mlp_ratio)) throw InvalidArgumentError.expected(`${where}.mlp_ratio`, 'a positive number', c.mlp_ratio);
  if (c.hidden_size % c.num_heads !== 0 || (c.hidden_size / c.num_heads) % 4 !== 0) {
    throw InvalidArgumentError.expected(`${where}.num_heads`, `a divisor of hidden_size ${c.hidden_size} giving heads of a size divisible by 4 (2-D RoPE)`, c.num_heads);
  }
  if (c.depth % 2 !== 0 || c.depth < 2) throw InvalidArgumentError.expected(`${where}.depth`, 'an even depth >= 2 (the official skips fail on an odd one)', c.depth);
  if (c.input_size % c.patch_size !== 0) throw InvalidArgumentError.expected(`${where}.input_size`, `a multiple of patch_size ${c.patch_size}`, c.input_size);
  if (c.text_states_dim_t5! % 8 !== 0) throw InvalidArgumentError.expected(`${where}.text_states_dim_t5`, 'a multiple of 8 (the attention pooler has 8 heads)', c.text_states_dim_t5);
  return c;
}

/** A Hunyuan-DiT state dict: the learned text padding rows and the attention pooler. */
function isHunyuanStateDict(tensors: TensorShapes): boolean {
  return tensors['text_embedding_padding'] !== undefined && tensors['pooler.c_proj.weight'] !== undefined;
}

/**
 * The config of a Hunyuan-DiT file, from its tensor shapes alone (heads from the qk-norm width, the text sizes from
 * the padding table, mlp_t5 and the pooler's positions), then `explicit` fields (input_size: the default latent).
 * v1.1's size and style conditions (`style_embedder`) are not supported yet: a CheckpointError says so.
 */
function resolveHunyuanConfig(info: CheckpointShapes, file: string, explicit?: PresetName | ModelConfigInput): ModelConfig {
  const t = info.tensors;
  const shape = (name: string) => {
    const s = t[name]?.shape;
    if (!s) throw new CheckpointError(`'${file}' looks like Hunyuan-DiT but has no ${name}`);
    return s;
  };
  const [D, C, p] = shape('x_embedder.proj.weight');
  // v1.1: extra_embedder.0 reads pooled (1024) + the size condition (6 x 256) + the style embedding (D)
  const style_cond = t['style_embedder.weight'] !== undefined;
  const size_cond = shape('extra_embedder.0.weight')[1] - 1024 - (style_cond ? D : 0) === 6 * 256;
  let depth = 0;
  for (const name of Object.keys(t)) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  const head = shape('blocks.0.attn1.q_norm.weight')[0];
  const fc1 = shape('blocks.0.mlp.fc1.weight')[0];
  // the official 4.3637 when it gives the file's hidden width (int(D * ratio)), else the file's exact ratio
  const mlp_ratio = Math.floor(D * 4.3637) === fc1 ? 4.3637 : (fc1 + 0.5) / D;
  const [rows, C1] = shape('text_embedding_padding');
  const L2 = shape('pooler.positional_embedding')[0] - 1;
  const c: Record<string, unknown> = {
    family: 'hunyuan-dit', skip: true, hidden_size: D, in_channels: C, patch_size: p, depth, num_heads: D / head, mlp_ratio,
    learn_sigma: shape('final_layer.linear.weight')[0] === p * p * 2 * C,
    text_states_dim: C1, text_len: rows - L2, text_states_dim_t5: shape('mlp_t5.0.weight')[1], text_len_t5: L2, size_cond, style_cond,
  };
  if (typeof explicit === 'string') throw InvalidArgumentError.expected('config', 'a config object (no Hunyuan-DiT presets by name)', explicit);
  if (explicit !== undefined) {
    if (typeof explicit !== 'object' || explicit === null) throw InvalidArgumentError.expected('config', 'a config object', explicit);
    Object.assign(c, explicit);
  }
  const config = normalizeConfig(c as ModelConfigInput & Record<string, unknown>, `'${file}' config`);
  checkTensors(config, t, file, { family: 'hunyuan-dit', skip: true, conditional: false });
  return config;
}

/** A LatteT2V (diffusers-style) state dict: patch embedding under pos_embed.proj, adaLN-single, caption projection. */
function isT2VStateDict(tensors: TensorShapes): boolean {
  return tensors['pos_embed.proj.weight'] !== undefined && tensors['adaln_single.linear.weight'] !== undefined;
}

/**
 * The config of a LatteT2V file: the tensor shapes (hidden size, channels, patch, depth, skips, caption
 * channels, learn_sigma, mlp_ratio), then the diffusers config in `__metadata__.config` (num_attention_heads,
 * sample_size, video_length), then `explicit` (ModelConfig fields). Heads and sample_size cannot be read from
 * shapes: without metadata they must be given, except for the released width (hidden 1152, caption 4096), which
 * takes Latte-0's (16 heads, sample_size 64). video_length defaults to the official 16.
 */
function resolveT2VConfig(info: CheckpointShapes, file: string, explicit?: PresetName | ModelConfigInput): ModelConfig {
  const t = info.tensors;
  const shape = (name: string) => t[name]?.shape;
  const [D, C, p] = shape('pos_embed.proj.weight')!;
  let layers = 0;
  for (const name of Object.keys(t)) {
    const m = /^transformer_blocks\.(\d+)\./.exec(name);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  const c: Record<string, unknown> = { family: 'latte-t2v', skip: t['skip_linears.0.linear.weight'] !== undefined, hidden_size: D, in_channels: C, patch_size: p, depth: 2 * layers };
  const cap = shape('caption_projection.linear_1.weight');
  if (cap) c.caption_channels = cap[1];
  const out = shape('proj_out.weight');
  if (out) c.learn_sigma = out[0] === p * p * 2 * C;
  const ff = shape('transformer_blocks.0.ff.net.0.proj.weight');
  if (ff) c.mlp_ratio = ff[0] / D;
  if (info.metadata.config !== undefined) {
    let meta: Record<string, unknown>;
    try {
      meta = JSON.parse(info.metadata.config);
    } catch (err) {
      throw new CheckpointError(`'${file}' has a metadata config that is not JSON: ${describe(info.metadata.config)}`, { cause: err });
    }
    if (typeof meta === 'object' && meta !== null) {
      // diffusers' transformer config, or skipdit's ModelConfig (what `skipdit convert` writes)
      c.num_heads = meta.num_attention_heads ?? meta.num_heads ?? c.num_heads;
      c.input_size = meta.sample_size ?? meta.input_size ?? c.input_size;
      c.num_frames = meta.video_length ?? meta.num_frames ?? c.num_frames;
    }
  }
  if (typeof explicit === 'string') throw InvalidArgumentError.expected('config', "a config object (no LatteT2V presets)", explicit);
  if (explicit !== undefined) {
    if (typeof explicit !== 'object' || explicit === null) throw InvalidArgumentError.expected('config', 'a config object', explicit);
    Object.assign(c, explicit);
  }
  // The released Latte-skip.pt (no metadata): Latte-0's transformer config (16 heads, sample_size 64)
  if (c.hidden_size === latteT2VBase.hidden_size && c.caption_channels === latteT2VBase.caption_channels) {
    c.num_heads ??= latteT2VBase.num_heads;
    c.input_size ??= latteT2VBase.input_size;
  }
  const missing = [];
  if (c.num_heads === undefined) missing.push('num_heads (not in the file: attention heads cannot be read from shapes)');
  if (c.input_size === undefined) missing.push('input_size (the sample_size: the positional table is not in the state dict)');
  if (missing.length > 0) throw new CheckpointError(`cannot tell the config of '${file}'; specify { config: { ... } } with:\n  ${missing.join('\n  ')}`);
  const config = normalizeConfig(c as ModelConfigInput & Record<string, unknown>, `'${file}' config`);
  checkTensors(config, t, file, { family: 'latte-t2v', skip: config.skip, conditional: false });
  return config;
}

/** Heads of the official model sizes (S, B, L, XL), the one thing tensor shapes cannot tell. */
export const headsByHiddenSize: Record<number, number> = { 384: 6, 768: 12, 1024: 16, 1152: 16 };

export interface InferredConfig {
  /** What the tensor names and shapes determine. */
  config: Partial<ModelConfig>;
  /** Fields they cannot determine (to be given explicitly), with why. */
  missing: string[];
  /** Assumptions made, for the user to confirm. */
  assumptions: string[];
}

type TensorShapes = Record<string, { shape: number[] }>;

/**
 * Infers the architecture from official state_dict names and shapes: family (temp_embed means Latte), skip
 * branches, hidden size, in-channels and patch size (x_embedder), depth (blocks.N), input size (pos_embed),
 * frames (temp_embed), classes (label table rows - 1, assuming the null row of class_dropout_prob > 0),
 * learn_sigma (final_layer output = 2 x in-channels), mlp_ratio (fc1). Heads come from the official sizes.
 */
export function inferConfig(tensors: TensorShapes): InferredConfig {
  const shape = (name: string) => tensors[name]?.shape;
  const missing: string[] = [];
  const assumptions: string[] = [];
  const c: Partial<ModelConfig> = {};
  const patch = shape('x_embedder.proj.weight');
  if (!patch || patch.length !== 4 || patch[2] !== patch[3]) {
    return { config: c, missing: ['hidden_size, in_channels, patch_size (no x_embedder.proj.weight of shape [D, C, p, p]: not a DiT/Latte state dict)'], assumptions };
  }
  const [D, C, p] = patch;
  Object.assign(c, { family: shape('temp_embed') ? 'latte' : 'dit', skip: shape('skip_linears.0.linear.weight') !== undefined, hidden_size: D, in_channels: C, patch_size: p });
  let depth = 0;
  for (const name of Object.keys(tensors)) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  if (depth > 0) c.depth = depth;
  else missing.push('depth (no blocks.N tensors)');
  const pos = shape('pos_embed');
  const grid = pos ? Math.round(Math.sqrt(pos[1])) : 0;
  if (pos && pos.length === 3 && grid * grid === pos[1]) c.input_size = grid * p;
  else missing.push('input_size (no square pos_embed [1, T, D])');
  const temp = shape('temp_embed');
  if (temp) c.num_frames = temp[1];
  const table = shape('y_embedder.embedding_table.weight');
  if (table) {
    c.num_classes = table[0] - 1;
    c.class_dropout = true;
    assumptions.push(`num_classes = ${table[0] - 1}: the label table's last row taken as the null class (class_dropout_prob > 0, as in every official model)`);
  } else {
    c.num_classes = 0;
    c.class_dropout = false;
  }
  const final = shape('final_layer.linear.weight');
  if (final && final[0] % (p * p) === 0 && (final[0] / (p * p) === 2 * C || final[0] / (p * p) === C)) c.learn_sigma = final[0] / (p * p) === 2 * C;
  else missing.push('learn_sigma (final_layer.linear.weight is not [p*p*C or p*p*2C, D])');
  const fc1 = shape('blocks.0.mlp.fc1.weight');
  if (fc1) c.mlp_ratio = fc1[0] / D;
  const heads = headsByHiddenSize[D];
  if (heads) {
    c.num_heads = heads;
    assumptions.push(`num_heads = ${heads}: the official model with hidden size ${D}`);
  } else {
    missing.push(`num_heads (hidden size ${D} is not an official size; attention heads cannot be read from shapes)`);
  }
  return { config: c, missing, assumptions };
}

/**
 * Refuses a state dict that is not a DiT / Latte one before any config question (which would only confuse):
 * VAE weights are named as such, anything else by what it lacks.
 */
function checkDiTStateDict(tensors: TensorShapes, file: string): void {
  if (tensors['x_embedder.proj.weight']) return;
  const names = Object.keys(tensors);
  if (names.some((n) => /^(first_stage_model\.)?(encoder|decoder|quant_conv|post_quant_conv)\./.test(n))) {
    throw new CheckpointError(`'${file}' looks like VAE weights (encoder/decoder tensors), not a DiT or Latte checkpoint: load it with loadVae() (the CLI's --vae)`);
  }
  const some = names.slice(0, 3).map((n) => `'${n}'`).join(', ');
  throw new CheckpointError(
    `'${file}' is not a DiT or Latte checkpoint: it has no x_embedder.proj.weight (${names.length} tensors${names.length ? `, such as ${some}` : ''})`,
  );
}

const dims = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * The one check of a config against a file: the parameters the model has for it (modelParams: its own names
 * and shapes) against the file's tensors, before anything is loaded. A mismatch with a simple cause is
 * explained (the label table's null row; a family, skip branches or conditioning that the names contradict);
 * anything else is listed tensor by tensor, as the loader would.
 */
function checkTensors(config: ModelConfig, tensors: TensorShapes, file: string, structure: { family: ModelFamily; skip: boolean; conditional: boolean }): void {
  const heading = `'${file}' does not match its config (${config.family}${config.skip ? '-skip' : ''}, depth ${config.depth}, hidden_size ${config.hidden_size}):`;
  const count = Object.keys(tensors).length;
  // Every block has parameters: a depth beyond the tensor count cannot match, and listing its parameters would
  // cost what a hostile metadata config asks for (depth up to 1e7), not what the file holds.
  if (config.depth > count) throw new CheckpointError(`${heading} ${config.depth} blocks but the file holds ${count} tensors in all`);
  const params = modelParams(config);
  const missing: string[] = [], misshaped: string[] = [];
  for (const p of params) {
    const t = Object.hasOwn(tensors, p.name) ? tensors[p.name] : undefined;
    if (!t) missing.push(`${p.name} ${dims(p.shape)}`);
    else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) misshaped.push(`${p.name}: expected ${dims(p.shape)}, file has ${dims(t.shape)}`);
  }
  const known = new Set(params.map((p) => p.name));
  const unexpected = Object.keys(tensors).filter((n) => !known.has(n));
  if (missing.length + misshaped.length + unexpected.length === 0) return;

  // A table of the right width but the wrong height is about the null row: say so.
  const table = tensors['y_embedder.embedding_table.weight']?.shape;
  const rows = config.num_classes + (config.class_dropout ? 1 : 0);
  if (table && config.num_classes > 0 && table[1] === config.hidden_size && table[0] !== rows) {
    throw new CheckpointError(
      `'${file}' has a label table of ${table[0]} rows (y_embedder.embedding_table.weight) but the config needs ${rows}: ` +
        `num_classes ${config.num_classes} ${config.class_dropout ? 'plus the null class (class_dropout_prob > 0)' : 'without a null class (class_dropout_prob 0)'}`,
    );
  }
  if (config.family !== structure.family || config.skip !== structure.skip || (config.num_classes > 0) !== structure.conditional) {
    throw new CheckpointError(
      `'${file}' looks like a ${structure.family}${structure.skip ? '-skip' : ''} ${structure.conditional ? 'class-conditional' : 'unconditional'} model ` +
        `but the config says ${config.family}${config.skip ? '-skip' : ''} ${config.num_classes > 0 ? 'class-conditional' : 'unconditional'}`,
    );
  }
  let msg = heading;
  for (const [what, items] of [['missing tensors', missing], ['wrongly shaped tensors', misshaped], ['unexpected tensors', unexpected]] as const) {
    if (items.length === 0) continue;
    msg += `\n  ${what} (${items.length}):` + items.slice(0, 20).map((i) => `\n    ${i}`).join('');
    if (items.length > 20) msg += `\n    ... and ${items.length - 20} more`;
  }
  throw new CheckpointError(msg);
}

/** The checkpoint description resolveConfig needs (NativeCheckpointInfo has it). */
interface CheckpointShapes {
  metadata: Record<string, string>;
  tensors: TensorShapes;
}

/**
 * The config of a weights file, by precedence: `explicit` (a preset name, or an object whose missing fields
 * come from the file), else the JSON in a safetensors `__metadata__.config`, else inference from the tensor
 * shapes. Fields nothing determines are a CheckpointError listing them. The result must describe the file:
 * the model's parameters for it (modelParams, describeModel's params) are exactly the file's tensor names and
 * shapes.
 */
export function resolveConfig(info: CheckpointShapes, file: string, explicit?: PresetName | ModelConfigInput): ModelConfig {
  if (isT2VStateDict(info.tensors)) return resolveT2VConfig(info, file, explicit);
  if (isHunyuanStateDict(info.tensors)) return resolveHunyuanConfig(info, file, explicit);
  checkDiTStateDict(info.tensors, file);
  const inferred = inferConfig(info.tensors);
  const names = Object.keys(info.tensors);
  const table = info.tensors['y_embedder.embedding_table.weight']?.shape;
  // What the names show, whatever the config says (metadata may leave these out).
  const structure = {
    family: (names.includes('temp_embed') ? 'latte' : 'dit') as ModelFamily,
    skip: names.some((n) => n.startsWith('skip_linears.')),
    conditional: names.includes('y_embedder.embedding_table.weight'),
  };
  let config: ModelConfig;
  if (typeof explicit === 'string') {
    if (!Object.hasOwn(presets, explicit)) throw InvalidArgumentError.expected('config', `a preset name (${Object.keys(presets).join(', ')}) or an object`, explicit);
    config = { ...presets[explicit] };
  } else if (explicit !== undefined) {
    if (typeof explicit !== 'object' || explicit === null) throw InvalidArgumentError.expected('config', 'a preset name or a config object', explicit);
    normalizeConfig({ family: inferred.config.family ?? 'dit', ...explicit } as ModelConfigInput & Record<string, unknown>); // field checks first
    const fromFile: Partial<ModelConfig> = { ...inferred.config };
    // The label table has num_classes rows, plus the null row when class_dropout_prob > 0: when the caller
    // says which, the class count read from the file follows (inference assumed the null row).
    const nullRow = explicit.class_dropout_prob !== undefined ? explicit.class_dropout_prob > 0 : explicit.class_dropout;
    if (table && nullRow !== undefined) Object.assign(fromFile, { num_classes: table[0] - (nullRow ? 1 : 0), class_dropout: nullRow });
    config = normalizeConfig({ ...fromFile, ...explicit } as ModelConfigInput & Record<string, unknown>);
  } else if (info.metadata.config !== undefined) {
    const raw = info.metadata.config;
    let meta: ModelConfigInput & Record<string, unknown>;
    try {
      meta = JSON.parse(raw);
    } catch (err) {
      throw new CheckpointError(`'${file}' has a metadata config that is not JSON: ${describe(raw)}`, { cause: err });
    }
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new CheckpointError(`'${file}' has a metadata config that is not a JSON object: ${describe(raw)}`);
    const merged: Record<string, unknown> = { family: structure.family, skip: structure.skip, ...meta };
    if (!structure.conditional && meta.extras === undefined) merged.num_classes = 0;
    // Other official constructor arguments (attention_mode, ...) do not change the weights' meaning here.
    const known = new Set([...Object.keys(presets['DiT-XL/2-skip']), 'class_dropout_prob', 'extras']);
    for (const key of Object.keys(merged)) if (!known.has(key)) delete merged[key];
    config = normalizeConfig(merged as ModelConfigInput & Record<string, unknown>, `'${file}' metadata config`);
  } else {
    if (inferred.missing.length > 0) {
      throw new CheckpointError(
        `cannot tell the config of '${file}' from its tensors; specify { config: { ... } } with:\n  ${inferred.missing.join('\n  ')}\n` +
          `or a preset (${Object.keys(presets).join(', ')})`,
      );
    }
    config = normalizeConfig(inferred.config as ModelConfigInput & Record<string, unknown>, `'${file}' inferred config`);
  }
  checkTensors(config, info.tensors, file, structure);
  return config;
}
