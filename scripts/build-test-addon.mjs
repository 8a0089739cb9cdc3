#!/usr/bin/env node
// npm pretest (and npm run build:test-addon): brings build/ up to date for the tests, incrementally:
//   cmake --build build --target skipdit skipdit_test
// skipdit_test is the test addon (build/Release/skipdit_test.node: runKernel, runOp, inspectCheckpointBytes,
// cudaSelfTest from test/hooks/), which the default build (scripts/build-native.mjs) leaves out; building skipdit
// with it keeps both addons on the same sources (a few seconds when nothing changed but the hooks, nothing when
// both are current). Where build/ was never configured (the addon in use is a prebuilt) it builds nothing: the
// tests of those entry points then skip, saying why (test/helpers/test-native.ts). A failed build fails npm test.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const build = path.join(root, 'build');
if (!existsSync(path.join(build, 'CMakeCache.txt'))) {
  console.log('skipdit: build/ is not configured (no source build here): the test addon is not built and the tests of ' +
    'its entry points will skip; `npm run build:native` configures build/');
  process.exit(0);
}
const started = performance.now();
const jobs = String(Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 16)));
const r = spawnSync(process.env.CMAKE ?? 'cmake', ['--build', build, '--target', 'skipdit', 'skipdit_test', '--parallel', jobs],
  { cwd: root, encoding: 'utf8' });
if (r.error) {
  console.error(`skipdit: could not run cmake to build the test addon: ${r.error.message}`);
  process.exit(1);
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (r.status !== 0) {
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  console.error(`skipdit: building the addons for the tests failed (cmake --build build --target skipdit skipdit_test, exit ${r.status})`);
  process.exit(r.status ?? 1);
}
// The build's own output only when it compiled something (Ninja says "no work to do", Make prints only targets).
const compiled = r.stdout.split('\n').filter((l) => /Building|Linking/.test(l));
if (compiled.length) process.stdout.write(compiled.map((l) => `  ${l.trim()}\n`).join(''));
console.log(`skipdit: build/Release/skipdit.node and skipdit_test.node up to date (${seconds} s)`);
