// Output files (PNG, GIF, safetensors, PNG-frame folders): checked before any long work, written with
// typed errors. A sampling run should not end in a stack trace because of where its result goes.
import { accessSync, constants, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, OutputError } from './errors.js';

/**
 * Checks that `target` can be written, without writing anything: `kind` 'file' needs a path that is not a
 * folder, in an existing writable folder; 'folder' (PNG frames) a path that is not a file, whose parent
 * folder exists and is writable. `name` is what the errors call it (e.g. '--out').
 */
export function checkOutputPath(target: unknown, kind: 'file' | 'folder', name = 'path'): void {
  if (typeof target !== 'string' || target.length === 0) throw InvalidArgumentError.expected(name, 'a path', target);
  const existing = stat(target);
  if (kind === 'file' && existing?.isDirectory()) {
    throw InvalidArgumentError.expected(name, 'a file path (not an existing folder)', target);
  }
  if (kind === 'folder' && existing && !existing.isDirectory()) {
    throw InvalidArgumentError.expected(name, 'a folder for the PNG frames (not an existing file)', target);
  }
  const parent = path.dirname(path.resolve(target));
  if (!stat(parent)?.isDirectory()) throw InvalidArgumentError.expected(name, `a path in an existing folder ('${parent}' does not exist)`, target);
  const writable = (p: string) => {
    try {
      accessSync(p, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (existing ? !writable(target) : !writable(parent)) {
    throw InvalidArgumentError.expected(name, `a writable path (no write permission on '${existing ? target : parent}')`, target);
  }
}

/** writeFileSync with a typed error: ENOSPC, EACCES, EROFS, ... become an OutputError naming the file. */
export function writeOutput(file: string, bytes: Uint8Array): void {
  try {
    writeFileSync(file, bytes);
  } catch (err) {
    throw new OutputError(`Cannot write '${file}': ${reason(err)}`, { cause: err });
  }
}

/** mkdir -p with a typed error. */
export function makeOutputFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new OutputError(`Cannot create the folder '${dir}': ${reason(err)}`, { cause: err });
  }
}

/** "ENOSPC: no space left on device, write" -> "ENOSPC: no space left on device" (the path is already named). */
function reason(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/, \w+(?: '[^']*')?$/, '');
}

function stat(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
