#!/usr/bin/env node
// Runs the fixture cases (DiT, Latte and VAE forwards with every tap, CFG, DDIM / DDPM pipelines with and without
// Skip-Cache, cache sequences, bf16 weights, the bundled digits model, a random DiT-S) on this build and on a
// baseline build, and compares every output bit for bit. The check behind "the redesign changes no result".
//   node scripts/compare-builds.mjs <baseline checkout with dist/ and its addon built>
// Exit 1 when an output differs (each difference is listed with its largest relative error).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const baselineDir = process.argv[2];
if (!baselineDir) throw new Error('usage: node scripts/compare-builds.mjs <baseline checkout>');
const fixtures = path.join(root, 'test', 'fixtures');

// The tensors of a safetensors file (F32 and I64 only: what the fixtures hold).
function readCases(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    const copy = new Uint8Array(bytes).buffer;
    const data = t.dtype === 'F32' ? new Float32Array(copy) : t.dtype === 'I64' ? Array.from(new BigInt64Array(copy), Number) : undefined;
    if (data) out[name] = { shape: t.shape, data };
  }
  return out;
}

async function run(lib) {
  const { loadModel, loadVae, Pipeline } = lib;
  const outputs = {};
  const put = (name, data) => { outputs[name] = data instanceof Float32Array ? data : Float32Array.from(data); };
  for (const name of ['dit-skip-tiny', 'latte-skip-tiny']) {
    const cases = readCases(path.join(fixtures, name, 'cases.safetensors'));
    for (const dtype of ['float32', 'bfloat16']) {
      const model = await loadModel(path.join(fixtures, name, 'model.safetensors'), { backend: 'cpu', dtype });
      const tag = `${name} ${dtype}`;
      const x = cases['forward.x'];
      const f = await model.forward({ x, t: cases['forward.t'].data, y: cases['forward.y'].data }, { taps: true });
      put(`${tag} forward.out`, f.data);
      for (const [k, v] of Object.entries(f.taps)) put(`${tag} forward.tap_${k}`, v.data);
      const c = cases['cfg.x'];
      const g = await model.forwardWithCfg({ x: c, t: cases['cfg.t'].data, y: cases['cfg.y'].data, cfgScale: cases['cfg.cfg_scale'].data[0] }, { taps: true });
      put(`${tag} cfg.out`, g.data);
      put(`${tag} cfg.raw`, g.taps.cfg_raw.data);
      for (const seq of name.startsWith('dit') ? ['cacheseq_n2_k4', 'cacheseq_n3_k1_s700_e50'] : ['cacheseq']) {
        const xs = cases[`${seq}.x`], ts = cases[`${seq}.t`].data, y = cases[`${seq}.y`].data;
        const per = xs.data.length / xs.shape[0];
        const cache = model.createCache({ interval: 2, branch: 1 });
        for (let j = 0; j < ts.length; j++) {
          const r = await model.forward({ x: { data: xs.data.subarray(j * per, (j + 1) * per), shape: xs.shape.slice(1) }, t: ts[j], y }, { cache });
          put(`${tag} ${seq} cached call ${j}`, r.data);
        }
      }
      const labels = name.startsWith('dit') ? [3, 5] : [1];
      for (const [sampler, cache] of [['ddim', false], ['ddim', name.startsWith('dit') ? 'dit' : 'latte'], ['ddpm', false], ['ddpm', { interval: 3, branch: 1 }]]) {
        const pipe = new Pipeline(model, { sampler, steps: 6, cfgScale: 4, cache }).init({ labels, seed: 7 });
        await pipe.run();
        put(`${tag} pipeline ${sampler} cache=${JSON.stringify(cache)}`, pipe.latents.data);
        pipe.dispose();
      }
      model.dispose();
    }
  }
  const vaeCases = readCases(path.join(fixtures, 'vae-tiny', 'cases.safetensors'));
  const vaeConfig = JSON.parse(readFileSync(path.join(fixtures, 'vae-tiny', 'config.json'), 'utf8'));
  const vae = await loadVae(path.join(fixtures, 'vae-tiny', 'model.safetensors'), { config: vaeConfig });
  for (const c of ['decode', 'decode_rect']) {
    const r = await vae.decodeScaled(vaeCases[`${c}.z`], { taps: true, chunk: 2 });
    put(`vae ${c}`, r.data);
    for (const [k, v] of Object.entries(r.taps)) put(`vae ${c} tap_${k}`, v.data);
  }
  vae.dispose();
  const digits = await loadModel(path.join(root, 'models', 'digits-skipdit.safetensors'), { backend: 'cpu' });
  const pipe = new Pipeline(digits, { steps: 10, cfgScale: 2, cache: { interval: 2, branch: 1 } }).init({ labels: [0, 7, 9], seed: 3 });
  await pipe.run();
  put('digits pipeline', pipe.latents.data);
  digits.dispose();
  const bench = await import(pathToFileURL(path.join(lib.__root, 'dist', 'lib', 'bench.js')).href);
  const config = bench.benchConfig('S');
  const { file } = bench.randomCheckpoint(config, path.join(root, 'bench', '.cache'));
  for (const dtype of ['float32', 'bfloat16']) {
    const model = await loadModel(file, { backend: 'cpu', dtype });
    const input = bench.benchInput(config, 2);
    put(`DiT-S random ${dtype}`, (await model.forward({ x: input.x, t: new Float32Array(2).fill(input.t), y: input.y })).data);
    model.dispose();
  }
  return outputs;
}

const load = async (dir) => Object.assign({}, await import(pathToFileURL(path.join(dir, 'dist', 'lib', 'index.js')).href), { __root: dir });
const ours = await run(await load(root));
const theirs = await run(await load(path.resolve(baselineDir)));
let differ = 0, values = 0;
for (const [name, a] of Object.entries(ours)) {
  const b = theirs[name];
  values += a.length;
  if (!b) { console.log(`only in this build: ${name}`); differ++; continue; }
  const same = a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  if (!same) {
    let d = 0, s = 0;
    for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
    console.log(`DIFFERS ${name}: max |a - b| / max |b| = ${(d / s).toExponential(2)}`);
    differ++;
  }
}
for (const name of Object.keys(theirs)) if (!ours[name]) { console.log(`only in the baseline: ${name}`); differ++; }
console.log(`${Object.keys(ours).length} outputs (${values} values) compared with ${baselineDir}: ${differ === 0 ? 'all bit-identical' : `${differ} differ`}`);
process.exit(differ === 0 ? 0 : 1);
