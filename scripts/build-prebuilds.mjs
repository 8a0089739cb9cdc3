#!/usr/bin/env node
// npm run build:prebuilds -> prebuilds/<platform>-<arch>/skipdit.napi.node, loadable by node-gyp-build on
// any Node >= 20 of that platform. prebuildify drives the build (through scripts/node-gyp-shim.mjs, since it
// has no cmake-js backend) and moves the binary out of build/Release.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuildify = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const args = [prebuildify, '--napi', '--strip', '--name', 'skipdit', '--node-gyp', path.join(root, 'scripts', 'node-gyp-shim.mjs')];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
