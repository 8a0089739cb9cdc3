// Model configurations: the official constructor arguments, named presets for the released checkpoints,
// and resolution of the config of a weights file (explicit > file metadata, checked against its tensors).
import type { NativeModelConfig, NativeSafetensorsInfo } from '../binding.js';
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

/**
 * The config of a safetensors file: `explicit` when given (a preset name or an object), else the JSON in its
 * `__metadata__.config`. Structural facts visible in the tensor names (Latte vs DiT, skip branches,
 * conditional or not) complete the metadata and must agree with an explicit config.
 */
export function resolveConfig(info: NativeSafetensorsInfo, file: string, explicit?: PresetName | Partial<ModelConfig>): ModelConfig {
  const names = Object.keys(info.tensors);
  const structure = {
    family: (names.includes('temp_embed') ? 'latte' : 'dit') as ModelFamily,
    skip: names.some((n) => n.startsWith('skip_linears.')),
    conditional: names.includes('y_embedder.embedding_table.weight'),
  };
  let config: ModelConfig;
  if (explicit !== undefined) {
    if (typeof explicit === 'string') {
      if (!(explicit in presets)) throw InvalidArgumentError.expected('config', `a preset name (${Object.keys(presets).join(', ')}) or an object`, explicit);
      config = { ...presets[explicit] };
    } else {
      config = normalizeConfig(explicit as Partial<ModelConfig> & Record<string, unknown>);
    }
  } else {
    const raw = info.metadata.config;
    if (raw === undefined) {
      throw new CheckpointError(
        `'${file}' has no config in its metadata: pass { config: '<preset>' } (one of ${Object.keys(presets).join(', ')}) or a config object`,
      );
    }
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
  }
  if (config.family !== structure.family || config.skip !== structure.skip || (config.num_classes > 0) !== structure.conditional) {
    throw new CheckpointError(
      `'${file}' looks like a ${structure.family}${structure.skip ? '-skip' : ''} ${structure.conditional ? 'class-conditional' : 'unconditional'} model ` +
        `but the config says ${config.family}${config.skip ? '-skip' : ''} ${config.num_classes > 0 ? 'class-conditional' : 'unconditional'}`,
    );
  }
  return config;
}
