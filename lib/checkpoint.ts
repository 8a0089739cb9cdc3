// Inspecting and converting weights files (safetensors, torch.save zip archives incl. training dicts).
import { statSync, type Stats } from 'node:fs';
import type { NativeCheckpointInfo } from '../binding.js';
import { inferConfig, resolveConfig, type InferredConfig, type ModelConfig, type ModelConfigInput, type PresetName } from './config.js';
import { CheckpointError, InvalidArgumentError, describe, fromNativeError } from './errors.js';
import { native } from './native.js';
import { modelParams } from './architecture.js';

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

/** 'a directory', 'a FIFO (named pipe)', ... for what is not a regular file. */
function fileType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Checks that `path` names an existing regular file before anything opens it: opening a FIFO blocks until a
 * writer comes, and directories or devices are never weights. CheckpointError saying what the path is.
 * @internal
 */
export function checkWeightsFile(path: unknown, name = 'path'): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) throw InvalidArgumentError.expected(name, 'a file path string', path);
  let st: Stats | undefined;
  try {
    st = statSync(path, { throwIfNoEntry: false }); // follows symlinks, as opening does
  } catch (err) {
    throw new CheckpointError(`Cannot open '${path}': ${(err as Error).message}`, { cause: err });
  }
  if (!st) throw new CheckpointError(`Cannot open '${path}': no such file`);
  if (!st.isFile()) throw new CheckpointError(`'${path}' is ${fileType(st)}, not a regular file`);
}

/** Describes a weights file without loading it: tensors, the state dict picked, the inferred config. */
export async function inspectCheckpoint(path: string, options: { key?: string; config?: PresetName | ModelConfigInput } = {}): Promise<CheckpointInfo> {
  checkWeightsFile(path);
  let info: NativeCheckpointInfo;
  try {
    info = await native().inspectCheckpoint(path, options.key);
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
 * An output path a convert may write: a new file, or an existing regular file other than the input (writing
 * the input while it is being read would truncate it under its own mapping). The native writer checks again.
 */
function checkOutput(input: string, output: unknown): asserts output is string {
  if (typeof output !== 'string' || output.length === 0) throw InvalidArgumentError.expected('output', 'a file path string', output);
  let out: Stats | undefined;
  try {
    out = statSync(output, { throwIfNoEntry: false });
  } catch (err) {
    throw new InvalidArgumentError(`Cannot write output ${describe(output)}: ${(err as Error).message}`, { cause: err });
  }
  if (!out) return;
  if (!out.isFile()) throw new InvalidArgumentError(`Expected a regular file path for output but received ${describe(output)}, which is ${fileType(out)}`);
  const inp = statSync(input);
  if (out.dev === inp.dev && out.ino === inp.ino) {
    throw new InvalidArgumentError(`Expected a file other than the input for output but received ${describe(output)}, the same file as input ${describe(input)}`);
  }
}

/**
 * Writes the picked state dict of `input` as safetensors (float tensors keep their dtype; strided or float64
 * ones become float32), with the resolved config in the metadata so loadModel needs no options later. The file
 * is written under a temporary name next to `output` and renamed over it only when complete. `dtype: 'bfloat16'`
 * stores the linear weights as bf16, rounded to nearest even as a bfloat16 load rounds them (loading either
 * file with dtype 'bfloat16' gives the same bits), and keeps the rest (biases, norms, embeddings, the patch
 * convolution) as it is: about half the file.
 */
export async function convertCheckpoint(
  input: string, output: string, options: { key?: string; config?: PresetName | ModelConfigInput; dtype?: 'keep' | 'bfloat16' } = {},
): Promise<{ bytes: number; config: ModelConfig; picked?: string }> {
  checkWeightsFile(input, 'input');
  if (options.dtype !== undefined && options.dtype !== 'keep' && options.dtype !== 'bfloat16') {
    throw InvalidArgumentError.expected('options.dtype', "'keep' or 'bfloat16'", options.dtype);
  }
  checkOutput(input, output);
  const info = await inspectCheckpoint(input, options);
  if (!info.config) throw new CheckpointError(info.configError ?? `cannot tell the config of '${input}'`);
  const metadata: Record<string, string> = { config: JSON.stringify(info.config), converted_from: input.split('/').pop()! };
  if (info.picked) metadata.state_dict = info.picked;
  try {
    const bf16 = options.dtype === 'bfloat16' ? modelParams(info.config).filter((p) => p.linear).map((p) => p.name) : undefined;
    if (bf16) metadata.linear_weights = 'bfloat16';
    const bytes = await native().convertCheckpoint(input, output, options.key ?? null, metadata, bf16);
    return { bytes, config: info.config, picked: info.picked };
  } catch (err) {
    throw fromNativeError(err);
  }
}
