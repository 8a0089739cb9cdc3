#!/usr/bin/env node
// npm install hook: use a prebuilt binary (prebuilds/) or an existing local build when one loads on this
// machine; otherwise build from source with cmake-js (scripts/build-native.mjs).
// SKIPDIT_BUILD_FROM_SOURCE=1 forces the source build.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

if (!process.env.SKIPDIT_BUILD_FROM_SOURCE) {
  try {
    require('node-gyp-build')(root);
    console.log('skipdit: using the existing native binary');
    process.exit(0);
  } catch {
    // no binary for this platform: build it
  }
}
const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit' });
process.exit(build.status ?? 1);
