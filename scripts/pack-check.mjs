#!/usr/bin/env node
// Does the npm package install and work as a dependency? `npm pack` (prepack builds the prebuilt binary and
// dist/), then `npm install <tarball>` into fresh apps under /tmp:
//   A: the normal PATH;  B: a PATH holding only node, npm, npx and sh (no compiler, CMake or nvcc).
// In each: an ESM script imports skipdit, prints backends() and runs a Pipeline on the bundled model (shape,
// finite values); `npx skipdit generate --class 3 --out three.png` writes a PNG. Also: the tarball's contents,
// the prebuilt's GPU code, require() from CommonJS, the typings, and what happens when the prebuilt does not
// load (B: no compiler -> a clear failure; A: the install script builds the packed sources).
//
//   node scripts/pack-check.mjs [--tarball skipdit-x.y.z.tgz] [--source-build cpu|cuda|none] [--json out.json] [--keep]
//
// Without --tarball it packs a copy of the checkout (git-tracked and untracked-not-ignored files, with a link to
// node_modules), so the checkout's build/ and dist/ stay as they are. --source-build: the fallback build from the
// packed sources in app A, CPU-only by default (cuda: with nvcc, minutes longer). Prints one line per check and
// "pack-check: N of M checks passed"; --json writes { passed, failed, checks, measurements }. Exit 1 on a failure.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listFatbin } from './fatbin-list.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const keep = args.includes('--keep');
const sourceBuild = opt('--source-build', 'cpu');
const jsonOut = opt('--json');
const tuple = `${process.platform}-${process.arch}`;

const checks = [];
const measurements = {};
function check(name, ok, detail = '') {
  checks.push({ name, ok: !!ok, detail });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return !!ok;
}
function section(title) {
  console.log(`\n== ${title}`);
}
/** Runs a command; returns { status, out (stdout+stderr), stdout, ms }. */
function run(cmd, argv, { cwd, env = process.env, timeout = 20 * 60_000, echo = true } = {}) {
  const started = performance.now();
  const r = spawnSync(cmd, argv, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 256 * 2 ** 20 });
  const ms = performance.now() - started;
  const out = (r.stdout ?? '') + (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '');
  if (echo) console.log(`$ ${[cmd, ...argv].join(' ')}   (${path.relative(base, cwd ?? '.') || '.'}, ${(ms / 1000).toFixed(1)} s, exit ${r.status ?? r.signal})\n${indent(out)}`);
  return { status: r.status, out, stdout: r.stdout ?? '', ms };
}
const indent = (s, max = 60) => {
  const lines = s.trimEnd().split('\n').filter((l) => l.trim());
  const shown = lines.length > max ? [...lines.slice(0, 10), `... (${lines.length - max + 10} lines)`, ...lines.slice(-(max - 10))] : lines;
  return shown.map((l) => `  | ${l}`).join('\n');
};

const base = mkdtempSync(path.join('/tmp', 'skipdit-pack-'));
let tarballFile;
let exitCode = 0;
try {
  main();
} catch (err) {
  check('pack-check ran to the end', false, err.stack ?? String(err));
} finally {
  if (keep) console.log(`\nkept ${base}`);
  else rmSync(base, { recursive: true, force: true });
  const passed = checks.filter((c) => c.ok).length;
  const failed = checks.length - passed;
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ passed, failed, checks, measurements }, null, 2));
  // Not the 'N passed, N failed' form: .ci/run prints the one total line, adding these to the test counts.
  console.log(`\npack-check: ${passed} of ${checks.length} checks passed${failed ? `, ${failed} FAILED` : ''}`);
  exitCode = failed ? 1 : 0;
}
process.exit(exitCode);

function main() {
  // ---- the tarball
  section('npm pack');
  let tarball = opt('--tarball');
  if (tarball) {
    tarball = path.resolve(tarball);
  } else {
    const src = path.join(base, 'src');
    const ls = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' });
    if (ls.status !== 0) throw new Error(`git ls-files failed: ${ls.stderr}`);
    for (const f of ls.stdout.split('\0').filter(Boolean)) {
      if (f === 'node_modules' || !existsSync(path.join(repo, f))) continue; // node_modules: a link in a worktree
      mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      copyFileSync(path.join(repo, f), path.join(src, f));
      chmodSync(path.join(src, f), statSync(path.join(repo, f)).mode & 0o777);
    }
    symlinkSync(realpathSync(path.join(repo, 'node_modules')), path.join(src, 'node_modules'));
    const r = run('npm', ['pack', '--pack-destination', base, '--foreground-scripts'], { cwd: src });
    measurements.packSeconds = +(r.ms / 1000).toFixed(1);
    if (!check('npm pack (prepack: prebuilt + dist)', r.status === 0, `${measurements.packSeconds} s`)) return;
    tarball = path.join(base, r.stdout.trim().split('\n').pop().trim());
  }
  tarballFile = tarball;
  const entries = listTar(readFileSync(tarball));
  const names = new Set(entries.map((e) => e.name.replace(/^package\//, '')));
  measurements.tarball = {
    file: path.basename(tarball), files: entries.length,
    packedBytes: statSync(tarball).size, unpackedBytes: entries.reduce((a, e) => a + e.size, 0),
  };
  console.log(`${measurements.tarball.file}: ${entries.length} files, ${mib(measurements.tarball.packedBytes)} packed, ${mib(measurements.tarball.unpackedBytes)} unpacked`);
  for (const e of [...entries].sort((a, b) => b.size - a.size).slice(0, 6)) console.log(`  ${mib(e.size).padStart(10)}  ${e.name}`);

  // ---- what is in it
  section('tarball contents');
  const prebuilt = `prebuilds/${tuple}/skipdit.glibc.node`;
  const required = ['package.json', 'README.md', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/cli.js', 'dist/binding.d.ts',
    prebuilt, 'models/digits-skipdit.safetensors', 'CMakeLists.txt', 'bindings/addon.cc', 'native/core/tensor.h',
    'scripts/install.mjs', 'scripts/build-native.mjs'];
  const absent = required.filter((f) => !names.has(f));
  check('tarball holds what an installed package needs', absent.length === 0, absent.length ? `missing ${absent.join(', ')}` : `${required.length} key files`);
  const unwanted = [...names].filter((f) => /^(dist\/(bench|test)\/|test\/|bench\/|tools\/|\.ci\/|build\/|node_modules\/|docs\/)|\.map$|^scripts\/(?!install\.mjs$|build-native\.mjs$)/.test(f));
  check('tarball holds no tests, benchmarks, tools, source maps or dev scripts', unwanted.length === 0, unwanted.slice(0, 8).join(', '));
  const binaries = [...names].filter((f) => f.endsWith('.node'));
  check('the only binary in the tarball is the prebuilt (no test addon)', binaries.length === 1 && binaries[0] === prebuilt, binaries.join(', ') || 'none');
  const cli = entries.find((e) => e.name === 'package/dist/lib/cli.js');
  check('dist/lib/cli.js is executable', cli && (cli.mode & 0o111) !== 0, cli ? `mode ${cli.mode.toString(8)}` : 'absent');
  // Every source file the packed CMakeLists.txt names is in the package (optional folders have their own
  // CMakeLists.txt, added only where it exists).
  const cmake = readTarFile(tarball, 'package/CMakeLists.txt');
  const referenced = [...cmake.matchAll(/\b((?:native|bindings|tools|test)\/[\w./-]+\.(?:cpp|cc|cu|h))\b/g)].map((m) => m[1]);
  const dangling = referenced.filter((f) => !names.has(f));
  check('CMakeLists.txt names no file the package lacks', dangling.length === 0, dangling.join(', ') || `${referenced.length} named, all packed`);

  // ---- the prebuilt's GPU code
  section('prebuilt binary');
  const prebuiltEntry = entries.find((e) => e.name === `package/${prebuilt}`);
  const prebuiltFile = path.join(base, path.basename(prebuilt));
  if (prebuiltEntry) {
    writeFileSync(prebuiltFile, prebuiltEntry.body);
    measurements.prebuiltBytes = statSync(prebuiltFile).size;
    const gpu = summarizeFatbin(listFatbin(readFileSync(prebuiltFile)));
    measurements.prebuiltGpuCode = gpu;
    console.log(`${prebuilt}: ${mib(measurements.prebuiltBytes)}`);
    for (const [k, v] of Object.entries(gpu)) console.log(`  ${k}: ${v.entries} entries, ${mib(v.bytes)}`);
    const ldd = run('ldd', [prebuiltFile], { echo: false });
    measurements.prebuiltNeeds = [...new Set(ldd.out.split('\n').map((l) => l.trim().split(' ')[0]).filter((l) => l && !l.startsWith('linux-vdso')))];
    const ver = run('objdump', ['-T', prebuiltFile], { echo: false });
    const maxVer = (prefix) => [...new Set([...ver.out.matchAll(new RegExp(`\\((${prefix}_[0-9.]+)\\)`, 'g'))].map((m) => m[1]))]
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).pop();
    measurements.prebuiltRequires = { glibc: maxVer('GLIBC'), libstdcxx: maxVer('GLIBCXX') };
    console.log(`  needs ${measurements.prebuiltNeeds.join(', ')}; newest symbol versions ${Object.values(measurements.prebuiltRequires).join(', ')}`);
    const nvcc = spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
    if (Object.keys(gpu).length || nvcc) {
      const want = ['ELF sm_80', 'ELF sm_90a', 'PTX compute_90'];
      const have = Object.keys(gpu).sort();
      check('prebuilt carries sm_80 + sm_90a SASS and compute_90 PTX only', want.every((w) => have.includes(w)) && have.length === want.length, have.join(', ') || 'no GPU code (nvcc is on PATH)');
    } else {
      console.log('  (CPU-only prebuilt: nvcc was not on PATH when it was packed)');
    }
    check('prebuilt links no libcudart/libcuda dynamically', !measurements.prebuiltNeeds.some((l) => /libcuda/.test(l)), measurements.prebuiltNeeds.join(' '));
    // Only the API (dist/binding.d.ts): the test entry points are in the test addon, never packed.
    const keys = run(process.execPath, ['-e', 'console.log(JSON.stringify(Object.keys(require(process.argv[1]))))', prebuiltFile], { echo: false });
    const exported = keys.status === 0 ? JSON.parse(keys.stdout.trim().split('\n').pop()) : [];
    const hooks = exported.filter((k) => ['runKernel', 'kernelNames', 'runOp', 'opNames', 'inspectCheckpointBytes', 'cudaSelfTest'].includes(k));
    check('prebuilt exports no test entry point', keys.status === 0 && exported.length > 0 && hooks.length === 0,
      keys.status === 0 ? (hooks.length ? `exports ${hooks.join(', ')}` : exported.join(', ')) : firstLine(keys.out, /Error/));
  }

  // ---- app A: the normal PATH
  const appA = makeApp('app-a');
  section('app A: npm install <tarball> with the normal PATH');
  const instA = install(appA, process.env, 'A');
  if (instA) {
    check('A: install used the prebuilt (no build)', /using the prebuilt binary/.test(instA.out) && !existsSync(path.join(appA, 'node_modules/skipdit/build')),
      firstLine(instA.out, /skipdit: /));
    smoke(appA, process.env, 'A');
    cjs(appA);
    types(appA);
  }

  // ---- app B: only node/npm/npx on PATH
  const bin = path.join(base, 'node-only-bin');
  mkdirSync(bin);
  for (const tool of ['node', 'npm', 'npx', 'sh']) { // sh: npm runs package scripts with it
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(realpathSync(found), path.join(bin, tool));
  }
  const envB = { ...process.env, PATH: bin };
  delete envB.CUDACXX; delete envB.CXX; delete envB.CC; delete envB.CMAKE;
  const noTools = ['cmake', 'c++', 'g++', 'nvcc', 'make'].filter((t) => spawnSync(t, ['--version'], { env: envB, stdio: 'ignore' }).error);
  check('B: PATH has node, npm, npx, sh and no cmake, c++, g++, nvcc or make', noTools.length === 5, `PATH=${bin}: ${noTools.join(', ')} not found`);
  const appB = makeApp('app-b');
  section('app B: npm install <tarball> with a PATH holding only node, npm, npx and sh');
  const instB = install(appB, envB, 'B');
  if (instB) {
    smoke(appB, envB, 'B');

    section('B: the prebuilt does not load and there is no compiler');
    const fileB = path.join(appB, 'node_modules/skipdit', prebuilt);
    writeFileSync(fileB, 'not an ELF file\n');
    const rb = run('npm', ['rebuild', 'skipdit', '--foreground-scripts'], { cwd: appB, env: envB });
    check('B: npm rebuild fails, saying why the prebuilt did not load and what the source build needs',
      rb.status !== 0 && /does not load: .*(invalid ELF header|file too short)/.test(rb.out) && /cannot build the native addon from source: missing CMake/.test(rb.out),
      firstLine(rb.out, /cannot build/));
    const r = run('node', ['smoke.mjs'], { cwd: appB, env: envB });
    check('B: import then says which file failed, why, and how to build from source',
      r.status !== 0 && /could not load the native addon .*does not load: .*(invalid ELF header|file too short)/.test(r.out) && /npm rebuild skipdit/.test(r.out),
      firstLine(r.out, /could not load/));
  }

  // ---- app C: npm skips skipdit's install script (--ignore-scripts; npm 11's allowScripts can do the same)
  const appC = makeApp('app-c');
  section('app C: npm install <tarball> --ignore-scripts');
  const r = run('npm', ['install', tarballFile, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: appC });
  if (check('C: npm install <tarball> --ignore-scripts', r.status === 0, `${(r.ms / 1000).toFixed(1)} s`)) {
    const s = run('node', ['smoke.mjs'], { cwd: appC });
    check('C: the prebuilt loads without the install script having run', s.status === 0 && /pipeline: .*"finite":true/.test(s.out), firstLine(s.out, /pipeline:|Error/));
  }

  // ---- app A: the prebuilt does not load, the install script builds the packed sources
  if (instA && sourceBuild !== 'none') {
    section(`A: the prebuilt does not load: npm rebuild builds from the packed sources (${sourceBuild === 'cuda' ? 'with CUDA' : 'CPU-only, SKIPDIT_CUDA=OFF'})`);
    writeFileSync(path.join(appA, 'node_modules/skipdit', prebuilt), 'not an ELF file\n');
    const env = sourceBuild === 'cuda' ? process.env : { ...process.env, SKIPDIT_CUDA: 'OFF' };
    const rb = run('npm', ['rebuild', 'skipdit', '--foreground-scripts'], { cwd: appA, env });
    measurements.sourceBuildSeconds = +(rb.ms / 1000).toFixed(1);
    check('A: npm rebuild says why the prebuilt did not load and builds from source',
      rb.status === 0 && /does not load: .*(invalid ELF header|file too short)/.test(rb.out) && /skipdit: built build\/Release\/skipdit\.node/.test(rb.out),
      `${measurements.sourceBuildSeconds} s; ${firstLine(rb.out, /skipdit: built/)}`);
    if (rb.status === 0) smoke(appA, process.env, 'A (source build)');
  }
}

function makeApp(name) {
  const dir = path.join(base, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `skipdit-pack-check-${name}`, version: '1.0.0', private: true, type: 'module' }, null, 2));
  writeFileSync(path.join(dir, 'smoke.mjs'), `// ESM: import, backends(), a Pipeline on the bundled model.
import { backends, bundledModel, loadModel, Pipeline } from 'skipdit';
const b = backends();
console.log('backends: ' + JSON.stringify(b.map(({ name, available, reason, compiled, architectures }) => ({ name, available, reason, compiled, architectures }))));
const model = await loadModel(bundledModel.path(), { backend: 'cpu' });
const pipe = new Pipeline(model, { sampler: 'ddim', steps: 10, cfgScale: 3 });
pipe.init({ labels: [3, 7], seed: 0 });
const t0 = performance.now();
const out = await pipe.run();
const ms = performance.now() - t0;
let finite = true, sum = 0, sq = 0;
for (const v of out.data) { finite &&= Number.isFinite(v); sum += v; sq += v * v; }
const mean = sum / out.data.length, std = Math.sqrt(sq / out.data.length - mean * mean);
console.log('pipeline: ' + JSON.stringify({ shape: out.shape, finite, mean: +mean.toFixed(4), std: +std.toFixed(4), steps: pipe.history.length, ms: Math.round(ms) }));
model.dispose();
`);
  writeFileSync(path.join(dir, 'smoke.cjs'), `// CommonJS: require() of the ESM package (Node >= 20.19 / 22.12), and import() (any Node).
let required;
try { const s = require('skipdit'); required = typeof s.Pipeline === 'function' && typeof s.backends === 'function' ? 'works' : 'no exports'; }
catch (err) { required = 'throws ' + err.code; }
import('skipdit').then((s) => console.log('cjs: ' + JSON.stringify({ node: process.version, requireModule: !!process.features.require_module, require: required, import: typeof s.Pipeline === 'function' ? 'works' : 'no exports', cpu: s.backends()[0].available })));
`);
  writeFileSync(path.join(dir, 'check.ts'), `// The typings as a TypeScript consumer sees them.
import { backends, bundledModel, loadModel, Pipeline, type Tensor, type BackendInfo } from 'skipdit';
const b: BackendInfo[] = backends();
const model = await loadModel(bundledModel.path(), { backend: 'cpu' });
const pipe = new Pipeline(model, { sampler: 'ddim', steps: 10, cfgScale: 3 });
pipe.init({ labels: [3], seed: 0 });
const out: Tensor = await pipe.run();
const shape: number[] = out.shape;
console.log(b.length, shape, model.config.hidden_size);
`);
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [path.join(repo, 'node_modules/@types')] },
    files: ['check.ts'],
  }, null, 2));
  return dir;
}

function install(app, env, label) {
  const r = run('npm', ['install', tarballFile, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: app, env });
  measurements[`install${label}Seconds`] = +(r.ms / 1000).toFixed(1);
  return check(`${label}: npm install <tarball>`, r.status === 0, `${measurements[`install${label}Seconds`]} s`) ? r : undefined;
}

function smoke(app, env, label) {
  const r = run('node', ['smoke.mjs'], { cwd: app, env });
  const line = r.out.split('\n').find((l) => l.startsWith('pipeline: '));
  const result = line ? JSON.parse(line.slice('pipeline: '.length)) : undefined;
  measurements[`pipeline${label.replace(/\W/g, '')}`] = result;
  const shapeOk = result && JSON.stringify(result.shape) === JSON.stringify([2, 1, 28, 28]);
  check(`${label}: ESM import, backends(), Pipeline on the bundled model`, r.status === 0 && shapeOk && result.finite && result.std > 0,
    result ? `shape ${result.shape.join('x')}, finite ${result.finite}, mean ${result.mean}, std ${result.std}, ${result.ms} ms` : firstLine(r.out, /Error/));
  const png = path.join(app, 'three.png');
  const g = run('npx', ['skipdit', 'generate', '--class', '3', '--out', 'three.png'], { cwd: app, env });
  const info = g.status === 0 && existsSync(png) ? pngInfo(app, env, png) : undefined;
  check(`${label}: npx skipdit generate --class 3 --out three.png`, info?.ok, info ? `${info.width}x${info.height} PNG, ${info.bytes} bytes, ${info.distinct} distinct gray levels; ${g.out.trim().split('\n').pop()}` : firstLine(g.out, /rror/));
  rmSync(png, { force: true });
  // The Hub layer (its dependency @huggingface/hub) from the installed package: offline, an empty cache.
  const cache = path.join(app, 'hf-cache');
  const l = run('npx', ['skipdit', 'pull', '--list', '--offline', '--cache-dir', cache], { cwd: app, env });
  check(`${label}: npx skipdit pull --list (offline, empty cache)`, l.status === 0 && /dit-xl-2-skip\s+class-to-image\s+not downloaded/.test(l.out),
    firstLine(l.out, l.status === 0 ? /dit-xl-2-skip/ : /rror/));
}

function pngInfo(app, env, file) {
  // Decoded with the package's own dependency pngjs, from the app.
  const r = spawnSync('node', ['--input-type=module', '-e', `
    import { createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    const require = createRequire(process.cwd() + '/');
    const { PNG } = require('pngjs');
    const buf = readFileSync(${JSON.stringify(file)});
    const png = PNG.sync.read(buf);
    const levels = new Set();
    for (let i = 0; i < png.data.length; i += 4) levels.add(png.data[i]);
    console.log(JSON.stringify({ width: png.width, height: png.height, bytes: buf.length, distinct: levels.size }));
  `], { cwd: app, env, encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, width: 0, height: 0, bytes: 0, distinct: 0 };
  const info = JSON.parse(r.stdout);
  return { ...info, ok: info.width >= 28 && info.height >= 28 && info.distinct > 16 };
}

function cjs(app) {
  const r = run('node', ['smoke.cjs'], { cwd: app });
  const line = r.out.split('\n').find((l) => l.startsWith('cjs: '));
  const res = line ? JSON.parse(line.slice(5)) : undefined;
  measurements.cjs = res;
  // require(esm) is on by default from Node 20.19 / 22.12; before that require() throws ERR_REQUIRE_ESM and import() is the way.
  check('A: CommonJS: import() works, require() works where Node has require(esm)',
    res && res.import === 'works' && res.cpu && (res.requireModule ? res.require === 'works' : res.require === 'throws ERR_REQUIRE_ESM'),
    res ? `Node ${res.node}: require() ${res.require}, import() ${res.import}` : firstLine(r.out, /rror/));
}

function types(app) {
  const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');
  if (!existsSync(tsc)) return console.log('(typings not checked: no typescript in the checkout)');
  const r = run('node', [tsc, '-p', 'tsconfig.json'], { cwd: app });
  check('A: the typings compile for a strict TypeScript consumer (skipLibCheck off)', r.status === 0, r.status === 0 ? '' : firstLine(r.out, /error/));
}

// ---- helpers
function firstLine(s, re) {
  return (s.split('\n').find((l) => re.test(l)) ?? s.trim().split('\n').pop() ?? '').trim().slice(0, 300);
}
function mib(n) {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}
function summarizeFatbin(list) {
  const out = {};
  for (const x of list) {
    const k = `${x.kind} ${x.target}`;
    out[k] ??= { entries: 0, bytes: 0 };
    out[k].entries += 1;
    out[k].bytes += x.size;
  }
  return out;
}
/** Entries of a .tgz: { name, size, mode }. */
function listTar(gz) {
  const buf = gunzipSync(gz);
  const out = [];
  let longName;
  for (let o = 0; o + 512 <= buf.length;) {
    const header = buf.subarray(o, o + 512);
    if (header.every((b) => b === 0)) break;
    const field = (a, n) => header.toString('utf8', a, a + n).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = field(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    const body = buf.subarray(o + 512, o + 512 + size);
    if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      if (m) longName = m[1];
    } else if (type === '0' || type === '7') out.push({ name, size, mode: parseInt(field(100, 8).trim() || '0', 8), body });
    o += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}
function readTarFile(tgz, name) {
  return listTar(readFileSync(tgz)).find((e) => e.name === name)?.body.toString('utf8') ?? '';
}
