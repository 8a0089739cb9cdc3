#!/usr/bin/env node
// npm install hook (also `npm rebuild skipdit`): keep the binary that node-gyp-build finds (the package's
// prebuilt, prebuilds/<platform>-<arch>/, or an earlier local build in build/Release) when it loads on this
// machine; otherwise say why not and build from source with cmake-js (scripts/build-native.mjs).
// SKIPDIT_BUILD_FROM_SOURCE=1 forces the source build; SKIPDIT_CUDA=OFF leaves the CUDA backend out of it.
// The addon never depends on this script having run: npm may skip dependency install scripts (npm 11's
// allowScripts policy, --ignore-scripts), and lib/native.ts then loads the prebuilt directly.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tuple = `${process.platform}-${process.arch}`;
const log = (msg) => console.log(`skipdit: ${msg}`);

function describe(addon) {
  const cuda = addon.backends?.().find((b) => b.name === 'cuda');
  if (!cuda?.compiled) return 'CPU backend; CUDA backend not compiled in';
  return `CPU backend; CUDA backend compiled for ${cuda.architectures.join(', ')}` +
    (cuda.available ? `, ${cuda.devices.length} device(s)` : ` (not usable here: ${cuda.reason})`);
}

/** The binary node-gyp-build would load and whether it loads: { file?, addon?, error? }. */
function probe() {
  let file;
  try {
    file = require('node-gyp-build').resolve(root);
  } catch (err) {
    return { error: `no prebuilt binary for ${tuple} in this package (${String(err.message).split('\n')[0]})` };
  }
  try {
    return { file, addon: require(file) };
  } catch (err) {
    // dlopen's message starts with the file name again
    return { file, error: `${path.relative(root, file)} does not load: ${String(err.message).replace(`${file}: `, '')}` };
  }
}

function which(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

if (process.env.SKIPDIT_BUILD_FROM_SOURCE) {
  log('SKIPDIT_BUILD_FROM_SOURCE is set: building from source');
} else {
  const found = probe();
  if (found.addon) {
    const kind = found.file.includes(`${path.sep}prebuilds${path.sep}`) ? 'the prebuilt binary' : 'the existing build';
    log(`using ${kind} ${path.relative(root, found.file)} (${describe(found.addon)})`);
    process.exit(0);
  }
  log(`${found.error}`);
  log('building from source instead');
}

// What the source build needs, checked up front so that a machine without it gets one clear message.
const missing = [];
if (!which(process.env.CMAKE ?? 'cmake')) missing.push('CMake >= 3.18 (cmake on PATH)');
const cxx = process.env.CXX ?? ['c++', 'g++', 'clang++'].find(which);
if (!cxx || !which(cxx)) missing.push('a C++17 compiler (g++ or clang++ on PATH, or CXX)');
if (!which('ninja') && !which('make')) missing.push('make or ninja');
if (missing.length) {
  console.error(`skipdit: cannot build the native addon from source: missing ${missing.join(', ')}.\n` +
    `  Install them (Debian/Ubuntu: apt-get install cmake g++ make; nvcc on PATH adds the CUDA backend), then run\n` +
    `  npm rebuild skipdit --foreground-scripts`);
  process.exit(1);
}
const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`skipdit: the source build failed (cmake-js exited with ${build.status ?? build.signal}); see the log above`);
  process.exit(build.status || 1);
}
const built = probe();
if (!built.addon) {
  console.error(`skipdit: the source build finished but ${built.error}`);
  process.exit(1);
}
log(`built ${path.relative(root, built.file)} (${describe(built.addon)})`);
