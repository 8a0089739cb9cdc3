#!/usr/bin/env node
// Builds the addon with cmake-js (offline: headers from node-api-headers, see package.json "binary").
// A clean rebuild each time, because CMake caches whether nvcc was found. Extra args go to cmake-js.
// SKIPDIT_CUDA=OFF builds without the CUDA backend even where nvcc is on PATH.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'rebuild', '--parallel', '2'];
if (/^(off|0|false|no)$/i.test(process.env.SKIPDIT_CUDA ?? '')) args.push('--CDSKIPDIT_CUDA=OFF');
args.push(...process.argv.slice(2));
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.error) console.error(`skipdit: could not run cmake-js: ${result.error.message}`);
process.exit(result.status ?? 1);
