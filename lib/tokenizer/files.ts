// Reading tokenizer files that may come from anywhere: only regular files (a FIFO would block the JS thread),
// size-capped before reading, strict UTF-8 and JSON, CheckpointError naming the file otherwise.
import { readFileSync, statSync, type Stats } from 'node:fs';
import { CheckpointError } from '../errors.js';

/** Far above real files (mT5's spiece.model 4.3 MB, its tokenizer.json 16 MB, BERT vocab.txt 0.2-1 MB). */
export const MAX_VOCAB_BYTES = 64 * 2 ** 20;
/**
 * Entries of a vocabulary (real ones: BERT 21k-120k, T5 32k, mT5 250k). A 64 MiB file of one-character lines
 * would otherwise make tens of millions of map entries, gigabytes of heap.
 */
export const MAX_VOCAB_ENTRIES = 4_000_000;
/** tokenizer_config.json / special_tokens_map.json are a few KB. */
export const MAX_CONFIG_BYTES = 4 * 2 ** 20;

function what(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** stat() that follows links; undefined when nothing is there. */
export function statPath(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    throw new CheckpointError(`Cannot open '${file}': ${(err as Error).message}`, { cause: err });
  }
}

export function readCapped(file: string, maxBytes: number): Buffer {
  const st = statPath(file);
  if (!st) throw new CheckpointError(`Cannot open '${file}': no such file`);
  if (!st.isFile()) throw new CheckpointError(`'${file}' is ${what(st)}, not a regular file`);
  if (st.size > maxBytes) {
    throw new CheckpointError(`'${file}' has ${st.size} bytes; a tokenizer file is expected to be at most ${maxBytes} bytes`);
  }
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CheckpointError(`Cannot read '${file}': ${(err as Error).message}`, { cause: err });
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keeps a BOM, as Python's 'utf-8' codec does

export function readText(file: string, maxBytes: number): string {
  const bytes = readCapped(file, maxBytes);
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new CheckpointError(`'${file}' is not UTF-8 text`, { cause: err });
  }
}

/** A JSON object file; CheckpointError when it is not JSON or not an object. */
export function readJsonObject(file: string, maxBytes = MAX_CONFIG_BYTES): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readText(file, maxBytes).replace(/^\ufeff/, ''));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(`'${file}' is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointError(`'${file}' does not hold a JSON object`);
  return value as Record<string, unknown>;
}
