// Hugging Face model folders: their weights (model.safetensors, sharded safetensors with
// model.safetensors.index.json, pytorch_model.bin, sharded .bin with pytorch_model.bin.index.json) and their
// config.json. The weights are read natively (native/checkpoint/weight_folder.h: memory-mapped, validated, the
// index parsed there with a bounded parser); this file checks the arguments and reads config.json.
import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { NativeWeightFolderInfo, NativeWeightFolderOptions } from '../binding.js';
import { CheckpointError, InvalidArgumentError, describe, fromNativeError } from './errors.js';
import { native } from './native.js';

export interface WeightFolderOptions {
  /**
   * Groups of names of one tied tensor, e.g. `[['shared.weight', 'encoder.embed_tokens.weight']]` (T5: a
   * safetensors file written by transformers holds only `shared.weight`, a pytorch_model.bin both). The tensor is
   * exposed under the group's first name and read from the first name present; other names present must hold the
   * same dtype, shape and values. A name may be in one group only.
   */
  aliases?: string[][];
  /**
   * Tensors whose name starts with one of these are left out and never read (index shards holding only such
   * tensors are not opened, and may be absent): `['decoder.', 'lm_head.']` keeps the encoder of a T5 checkpoint.
   */
  ignorePrefixes?: string[];
  /**
   * Follow symlinks that resolve outside the folder. By default a weight file may be a link only to a file inside
   * the folder, or into the `blobs/` folder of a huggingface_hub cache snapshot (`<repo>/snapshots/<rev>/` or a
   * sub-folder of it).
   */
  allowExternalLinks?: boolean;
}

export interface WeightFolderTensor {
  name: string;
  /** As stored: 'F32', 'BF16', 'F16', 'F64', 'I64', ... */
  dtype: string;
  shape: number[];
  bytes: number;
  /** The file it is read from (a name in the folder). */
  file: string;
  /** The stored name, when it is read under an alias. */
  stored?: string;
  /** Other names of its alias group that the files hold too (checked equal when read). */
  duplicates?: string[];
}

export interface WeightFolderInfo extends Omit<NativeWeightFolderInfo, 'metadata' | 'tensors'> {
  /** The index's "metadata" (numbers as text, e.g. total_size), or the single safetensors file's __metadata__. */
  metadata: Record<string, string>;
  /** The tensors a loader sees (ignored ones left out, aliases folded), in file order. */
  tensors: WeightFolderTensor[];
  /** Elements of those tensors. */
  parameters: number;
}

/** The limit on config.json (real ones are a few KB; id2label tables make some ~100 KB). */
export const MAX_CONFIG_BYTES = 4 << 20;

function checkDir(dir: unknown): asserts dir is string {
  if (typeof dir !== 'string' || dir.length === 0) throw InvalidArgumentError.expected('dir', 'a folder path string', dir);
}

function checkNames(value: unknown, name: string): asserts value is string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
    throw InvalidArgumentError.expected(name, 'an array of non-empty strings', value);
  }
}

/** Checks the options (typed errors naming the option) and returns them as the native call takes them. */
function nativeOptions(options: unknown): NativeWeightFolderOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw InvalidArgumentError.expected('options', 'an object', options);
  const o = options as WeightFolderOptions;
  const out: NativeWeightFolderOptions = {};
  if (o.aliases !== undefined) {
    if (!Array.isArray(o.aliases)) throw InvalidArgumentError.expected('options.aliases', 'an array of arrays of tensor names', o.aliases);
    const seen = new Set<string>();
    o.aliases.forEach((group, i) => {
      checkNames(group, `options.aliases[${i}]`);
      if (group.length === 0) throw InvalidArgumentError.expected(`options.aliases[${i}]`, 'a non-empty array of tensor names', group);
      for (const n of group) {
        if (seen.has(n)) throw InvalidArgumentError.expected(`options.aliases[${i}]`, 'names that are in no other alias group', n);
        seen.add(n);
      }
    });
    out.aliases = o.aliases.map((g) => [...g]);
  }
  if (o.ignorePrefixes !== undefined) {
    checkNames(o.ignorePrefixes, 'options.ignorePrefixes');
    out.ignorePrefixes = [...o.ignorePrefixes];
  }
  if (o.allowExternalLinks !== undefined) {
    if (typeof o.allowExternalLinks !== 'boolean') throw InvalidArgumentError.expected('options.allowExternalLinks', 'a boolean', o.allowExternalLinks);
    out.allowExternalLinks = o.allowExternalLinks;
  }
  return out;
}

/**
 * Describes the weights of a Hugging Face model folder without reading tensor data (on a pool thread): the layout
 * found, its files, every tensor a loader would see (name, stored dtype, shape, bytes, file). A malformed folder
 * (bad index, missing shard, a tensor in two shards, a file outside the folder, ...) is a CheckpointError.
 */
export async function inspectWeights(dir: string, options: WeightFolderOptions = {}): Promise<WeightFolderInfo> {
  checkDir(dir);
  const opts = nativeOptions(options);
  let info: NativeWeightFolderInfo;
  try {
    info = await native().inspectWeights(dir, opts);
  } catch (err) {
    throw fromNativeError(err);
  }
  const metadata: Record<string, string> = Object.create(null);
  for (const [k, v] of info.metadata) metadata[k] = v;
  const parameters = info.tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
  return { ...info, metadata, parameters };
}

/** Whether `file` (resolved) may be read for `dir` (resolved): the rule of native/checkpoint/weight_folder.h. */
function insideFolder(dir: string, file: string): boolean {
  if (file.startsWith(dir + path.sep)) return true;
  // <repo>/snapshots/<rev>/ or a sub-folder of it (<rev>/text_encoder/): links into <repo>/blobs/
  for (let d = dir; path.dirname(d) !== d; d = path.dirname(d)) {
    if (path.basename(path.dirname(d)) === 'snapshots') return file.startsWith(path.join(path.dirname(path.dirname(d)), 'blobs') + path.sep);
  }
  return false;
}

/**
 * Reads a model folder's `config.json` (or a config file given directly) as a plain object, for the model
 * loaders to interpret. At most MAX_CONFIG_BYTES; a FIFO or device is refused without blocking; a link must stay
 * in the folder as for the weights (`allowExternalLinks` lifts that). CheckpointError for a missing, oversized,
 * non-UTF-8 or non-JSON file, or JSON that is not an object.
 */
export async function readConfigJson(dir: string, options: { allowExternalLinks?: boolean } = {}): Promise<Record<string, unknown>> {
  checkDir(dir);
  if (options === null || typeof options !== 'object') throw InvalidArgumentError.expected('options', 'an object', options);
  if (options.allowExternalLinks !== undefined && typeof options.allowExternalLinks !== 'boolean') {
    throw InvalidArgumentError.expected('options.allowExternalLinks', 'a boolean', options.allowExternalLinks);
  }
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    throw new CheckpointError(`Cannot open model folder '${dir}': ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`, { cause: err });
  }
  const file = st.isDirectory() ? path.join(dir, 'config.json') : dir;
  const shown = `'${file}'`;
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CheckpointError(missing ? `${shown} does not exist: a model folder holds a config.json next to its weights` : `Cannot open ${shown}: ${(err as Error).message}`, { cause: err });
  }
  if (st.isDirectory() && !options.allowExternalLinks && !insideFolder(await realpath(dir), real)) {
    throw new CheckpointError(`${shown} is a symbolic link to '${real}', outside the folder; links are followed only within the folder (or into the blobs/ folder of a huggingface_hub cache snapshot)`);
  }
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever. Regular files ignore it.
  let text: string;
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: Error) => {
    throw new CheckpointError(`Cannot open ${shown}: ${err.message}`, { cause: err });
  });
  try {
    const fst = await handle.stat();
    if (!fst.isFile()) throw new CheckpointError(`${shown} is not a regular file`);
    if (fst.size > MAX_CONFIG_BYTES) throw new CheckpointError(`${shown} is ${fst.size} bytes, more than the ${MAX_CONFIG_BYTES} a config may have`);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_CONFIG_BYTES) throw new CheckpointError(`${shown} grew past the ${MAX_CONFIG_BYTES} bytes a config may have`);
    }
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, n));
    } catch (err) {
      throw new CheckpointError(`${shown} is not UTF-8 text`, { cause: err });
    }
  } finally {
    await handle.close();
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(`${shown} is not valid JSON: ${(err as Error).message.slice(0, 200)}`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckpointError(`${shown} holds ${Array.isArray(value) ? 'an array' : describe(value)}, not a JSON object`);
  }
  return value as Record<string, unknown>;
}
