// Loads the compiled addon: the local build first (build/Release), then a prebuilt binary
// (prebuilds/<platform>-<arch>/), through node-gyp-build. When both fail, one message says what was tried.
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
  try {
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    cached = load(root);
  } catch (err) {
    throw new Error(
      `skipdit: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.version}).\n` +
        `Tried: ${path.join(root, 'build/Release/skipdit.node')}, ${path.join(root, 'build/Debug/skipdit.node')}, ` +
        `${path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)}/.\n` +
        'Possible solutions:\n' +
        '  - build it: npm run build:native (needs cmake >= 3.18 and a C++17 compiler; nvcc on PATH adds CUDA)\n' +
        '  - reinstall: npm install skipdit --foreground-scripts to see the build log\n' +
        `Cause: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return cached;
}
