// Loads the compiled addon: the local build first (build/Release), then a prebuilt binary
// (prebuilds/<platform>-<arch>/), through node-gyp-build. When that fails, one message says which file was tried
// and why it did not load, and how to build from source.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding } from '../binding.js';

const require = createRequire(import.meta.url);

/** The package root: the nearest folder above this file whose package.json is skipdit's. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'skipdit') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('skipdit: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

let cached: NativeBinding | undefined;

export function native(): NativeBinding {
  if (cached) return cached;
  const root = packageRoot();
  // SKIPDIT_ADDON: an explicit .node file (e.g. a sanitizer build) instead of the usual search.
  if (process.env.SKIPDIT_ADDON) {
    cached = require(path.resolve(process.env.SKIPDIT_ADDON)) as NativeBinding;
    return cached;
  }
  // node-gyp-build picks the file (build/Release, build/Debug, then prebuilds/<platform>-<arch>/); loading it is
  // a separate step so that the message can tell "no binary for this platform" from "this binary does not load".
  const load = require('node-gyp-build') as { resolve(dir: string): string };
  let file: string | undefined;
  try {
    file = load.resolve(root);
    cached = require(file) as NativeBinding;
  } catch (err) {
    throw new Error(loadErrorMessage(root, file, err as Error), { cause: err });
  }
  return cached;
}

function loadErrorMessage(root: string, file: string | undefined, err: Error): string {
  const tuple = `${process.platform}-${process.arch}`;
  const what = file
    ? `${file} does not load: ${err.message.replace(`${file}: `, '').trim()}` // dlopen's message repeats the file name
    : `there is no binary for ${tuple} in ${root} (looked in build/Release, build/Debug and prebuilds/${tuple}/; ` +
      'the package ships a prebuilt binary for linux-x64 with glibc only)';
  const checkout = existsSync(path.join(root, '.git')) || existsSync(path.join(root, 'lib', 'native.ts'));
  const fix = checkout
    ? '  npm run build:native\n'
    : '  npm rebuild skipdit --foreground-scripts\n' +
      "    (runs skipdit's install script, which says why the binary did not load and builds from source; where npm\n" +
      '    skips dependency install scripts, allow it first: npm install-scripts approve skipdit)\n' +
      `  or directly: node ${path.join(root, 'scripts', 'build-native.mjs')}\n`;
  return (
    `skipdit: could not load the native addon for ${tuple} (Node ${process.version}): ${what}\n` +
    'Build it from source (needs CMake >= 3.18, a C++17 compiler and make or ninja; nvcc on PATH adds the CUDA backend):\n' +
    fix
  );
}
