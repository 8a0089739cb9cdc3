#!/usr/bin/env node
// prebuildify calls "node-gyp rebuild --target=... --release"; this stands in for node-gyp and builds with
// cmake-js instead (N-API: one binary per platform/arch, independent of the Node version). Args are ignored.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build-native.mjs');
process.exit(spawnSync(process.execPath, [script], { stdio: 'inherit' }).status ?? 1);
