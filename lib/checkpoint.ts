// Inspecting and converting weights files (safetensors, torch.save zip archives incl. training dicts).
import { existsSync } from 'node:fs';
import type { NativeCheckpointInfo } from '../binding.js';
import { inferConfig, resolveConfig, type InferredConfig, type ModelConfig, type PresetName } from './config.js';
import { CheckpointError, InvalidArgumentError, fromNativeError } from './errors.js';
import { native } from './native.js';

export interface CheckpointInfo extends NativeCheckpointInfo {
  /** Elements and bytes (as stored) of the picked state dict. */
  parameters: number;
  bytes: number;
  /** What the tensor shapes tell about the architecture. */
  inferred: InferredConfig;
  /** The config loadModel would use, or why there is none. */
  config: ModelConfig | null;
  configError?: string;
}

const dtypeBytes: Record<string, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function checkPath(path: unknown, name = 'path'): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) throw InvalidArgumentError.expected(name, 'a file path string', path);
  if (!existsSync(path)) throw new CheckpointError(`Cannot open '${path}': no such file`);
}

/** Describes a weights file without loading it: tensors, the state dict picked, the inferred config. */
export function inspectCheckpoint(path: string, options: { key?: string; config?: PresetName | Partial<ModelConfig> } = {}): CheckpointInfo {
  checkPath(path);
  let info: NativeCheckpointInfo;
  try {
    info = native().inspectCheckpoint(path, options.key);
  } catch (err) {
    throw fromNativeError(err);
  }
  let parameters = 0, bytes = 0;
  for (const t of Object.values(info.tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    parameters += n;
    bytes += n * (dtypeBytes[t.dtype] ?? 4);
  }
  let config: ModelConfig | null = null;
  let configError: string | undefined;
  try {
    config = resolveConfig(info, path, options.config);
  } catch (err) {
    configError = (err as Error).message;
  }
  return { ...info, parameters, bytes, inferred: inferConfig(info.tensors), config, configError };
}

/**
 * Writes the picked state dict of `input` as safetensors (float tensors keep their dtype; strided or float64
 * ones become float32), with the resolved config in the metadata so loadModel needs no options later.
 */
export async function convertCheckpoint(
  input: string, output: string, options: { key?: string; config?: PresetName | Partial<ModelConfig> } = {},
): Promise<{ bytes: number; config: ModelConfig; picked?: string }> {
  checkPath(input, 'input');
  if (typeof output !== 'string' || output.length === 0) throw InvalidArgumentError.expected('output', 'a file path string', output);
  const info = inspectCheckpoint(input, options);
  if (!info.config) throw new CheckpointError(info.configError ?? `cannot tell the config of '${input}'`);
  const metadata: Record<string, string> = { config: JSON.stringify(info.config), converted_from: input.split('/').pop()! };
  if (info.picked) metadata.state_dict = info.picked;
  try {
    const bytes = await native().convertCheckpoint(input, output, options.key ?? null, metadata);
    return { bytes, config: info.config, picked: info.picked };
  } catch (err) {
    throw fromNativeError(err);
  }
}
