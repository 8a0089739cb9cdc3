#!/usr/bin/env node
// npm run build:prebuilds (and prepack) -> prebuilds/<platform>-<arch>/skipdit.<libc>.node, which node-gyp-build
// loads on any Node >= 20 of that platform (N-API). prebuildify drives the build (through
// scripts/node-gyp-shim.mjs, since it has no cmake-js backend), strips the binary and MOVES it out of
// build/Release. The CUDA backend is inside when nvcc is on PATH (or CUDACXX names it); then the binary must
// have it, else this fails. SKIPDIT_CUDA=OFF builds a CPU-only prebuilt on purpose. It also fails if the binary
// exports a test entry point (those belong to the test addon, CMake target skipdit_test, which is never packed).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const tuple = `${process.platform}-${process.arch}`;

function nvccFound() {
  if (/^(off|0|false|no)$/i.test(process.env.SKIPDIT_CUDA ?? '')) return false;
  if (process.env.CUDACXX) return existsSync(process.env.CUDACXX);
  return spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
}

// Only this build's binary goes into the package.
rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
const wantCuda = nvccFound();
console.log(`skipdit: building the ${tuple} prebuilt (${wantCuda ? 'CPU + CUDA' : 'CPU only: nvcc not found'})`);
const prebuildify = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const args = [prebuildify, '--napi', '--strip', '--tag-libc', '--name', 'skipdit',
  '--node-gyp', path.join(root, 'scripts', 'node-gyp-shim.mjs')];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);

const dir = path.join(root, 'prebuilds', tuple);
const files = readdirSync(dir).filter((f) => f.endsWith('.node'));
if (files.length !== 1) {
  console.error(`skipdit: expected one binary in ${dir}, found ${files.join(', ') || 'none'}`);
  process.exit(1);
}
const file = path.join(dir, files[0]);
const addon = require(file);
const cuda = addon.backends().find((b) => b.name === 'cuda');
console.log(`skipdit: ${path.relative(root, file)}: ${(statSync(file).size / 2 ** 20).toFixed(1)} MiB, ` +
  `CUDA ${cuda?.compiled ? `compiled for ${cuda.architectures.join(', ')}` : 'not compiled'}`);
if (wantCuda && !cuda?.compiled) {
  console.error('skipdit: nvcc is on PATH but the prebuilt has no CUDA backend');
  process.exit(1);
}
const TEST_ENTRY_POINTS = ['runKernel', 'kernelNames', 'runOp', 'opNames', 'inspectCheckpointBytes', 'cudaSelfTest']; // test/helpers/test-native.ts
const hooks = Object.keys(addon).filter((k) => TEST_ENTRY_POINTS.includes(k));
if (hooks.length) {
  console.error(`skipdit: the prebuilt exports test entry points: ${hooks.join(', ')}`);
  process.exit(1);
}
