// Model configurations: the official constructor arguments, named presets for the released checkpoints,
// and resolution of the config of a weights file (explicit > file metadata, checked against its tensors).
import type { NativeModelConfig } from '../binding.js';
import { CheckpointError, InvalidArgumentError, describe } from './errors.js';

export type ModelConfig = NativeModelConfig;
export type ModelFamily = ModelConfig['family'];

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
export function normalizeConfig(input: Partial<ModelConfig> & Record<string, unknown>, where = 'config'): ModelConfig {
  if (typeof input !== 'object' || input === null) throw InvalidArgumentError.expected(where, 'an object', input);
  const known = new Set([...integerFields, 'family', 'skip', 'mlp_ratio', 'class_dropout', 'learn_sigma']);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw InvalidArgumentError.expected(`${where}.${key}`, `one of the keys ${[...known].join(', ')}`, key);
  }
  if (input.family !== 'dit' && input.family !== 'latte') {
    throw InvalidArgumentError.expected(`${where}.family`, "'dit' or 'latte'", input.family);
  }
  const base = input.family === 'dit' ? presets['DiT-XL/2-skip'] : presets['Latte-XL/2-skip'];
  const c: ModelConfig = { ...base, ...input } as ModelConfig;
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

/** The official metadata keys written by the fixture generator and `skipdit convert` (extras: Latte's conditioning mode). */
interface MetadataConfig extends Partial<ModelConfig> {
  extras?: number;
  class_dropout_prob?: number;
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

/** The checkpoint description resolveConfig needs (NativeCheckpointInfo has it). */
interface CheckpointShapes {
  metadata: Record<string, string>;
  tensors: TensorShapes;
}

/**
 * The config of a weights file, by precedence: `explicit` (a preset name, or an object whose missing fields
 * come from the file), else the JSON in a safetensors `__metadata__.config`, else inference from the tensor
 * shapes. Fields nothing determines are a CheckpointError listing them. The structure visible in the
 * tensor names (Latte vs DiT, skip branches, conditional or not) must agree with the result.
 */
export function resolveConfig(info: CheckpointShapes, file: string, explicit?: PresetName | Partial<ModelConfig>): ModelConfig {
  const inferred = inferConfig(info.tensors);
  const names = Object.keys(info.tensors);
  const structure = {
    family: (names.includes('temp_embed') ? 'latte' : 'dit') as ModelFamily,
    skip: names.some((n) => n.startsWith('skip_linears.')),
    conditional: names.includes('y_embedder.embedding_table.weight'),
  };
  let config: ModelConfig;
  if (typeof explicit === 'string') {
    if (!(explicit in presets)) throw InvalidArgumentError.expected('config', `a preset name (${Object.keys(presets).join(', ')}) or an object`, explicit);
    config = { ...presets[explicit] };
  } else if (explicit !== undefined) {
    if (typeof explicit !== 'object' || explicit === null) throw InvalidArgumentError.expected('config', 'a preset name or a config object', explicit);
    normalizeConfig({ family: inferred.config.family ?? 'dit', ...explicit } as Partial<ModelConfig> & Record<string, unknown>); // field checks first
    config = normalizeConfig({ ...inferred.config, ...explicit } as Partial<ModelConfig> & Record<string, unknown>);
  } else if (info.metadata.config !== undefined) {
    const raw = info.metadata.config;
    let meta: MetadataConfig;
    try {
      meta = JSON.parse(raw) as MetadataConfig;
    } catch (err) {
      throw new CheckpointError(`'${file}' has a metadata config that is not JSON: ${describe(raw)}`, { cause: err });
    }
    const { extras, class_dropout_prob, ...fields } = meta as MetadataConfig & Record<string, unknown>;
    const merged: Record<string, unknown> = { family: structure.family, skip: structure.skip, ...fields };
    if (!structure.conditional || extras === 1) merged.num_classes = 0;
    if (class_dropout_prob !== undefined) merged.class_dropout = class_dropout_prob > 0;
    if (merged.num_classes === 0) merged.class_dropout = false;
    for (const key of Object.keys(merged)) if (!(key in presets['DiT-XL/2-skip'])) delete merged[key];
    config = normalizeConfig(merged as Partial<ModelConfig> & Record<string, unknown>, `'${file}' metadata config`);
  } else {
    if (inferred.missing.length > 0) {
      throw new CheckpointError(
        `cannot tell the config of '${file}' from its tensors; specify { config: { ... } } with:\n  ${inferred.missing.join('\n  ')}\n` +
          `or a preset (${Object.keys(presets).join(', ')})`,
      );
    }
    config = normalizeConfig(inferred.config as Partial<ModelConfig> & Record<string, unknown>, `'${file}' inferred config`);
  }
  if (config.family !== structure.family || config.skip !== structure.skip || (config.num_classes > 0) !== structure.conditional) {
    throw new CheckpointError(
      `'${file}' looks like a ${structure.family}${structure.skip ? '-skip' : ''} ${structure.conditional ? 'class-conditional' : 'unconditional'} model ` +
        `but the config says ${config.family}${config.skip ? '-skip' : ''} ${config.num_classes > 0 ? 'class-conditional' : 'unconditional'}`,
    );
  }
  return config;
}
