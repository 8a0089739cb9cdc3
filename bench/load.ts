// npm run bench:load: peak resident memory and time while loading a DiT-XL/2-skip-sized checkpoint
// (~2.65 GB fp32, random weights) from a torch.save archive and from safetensors. Each load runs in a fresh
// process that reports its own peak RSS (VmHWM); the target is a peak under ~1.2x the weights' size.
//   node dist/bench/load.js [--model XL|B|S] [--keep]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { normalizeConfig } from '../lib/index.js';
import { checkpointShapes, writeRandomCheckpoint } from '../lib/random-checkpoint.js';
import { PickleWriter, writeTorchCheckpoint } from './torch-zip.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'XL' }, keep: { type: 'boolean', default: false } } });
const sizes = { XL: { depth: 28, hidden_size: 1152, num_heads: 16 }, B: { depth: 12, hidden_size: 768, num_heads: 12 }, S: { depth: 12, hidden_size: 384, num_heads: 6 } } as const;
const size = sizes[values.model as keyof typeof sizes];
if (!size) throw new Error('--model must be XL, B or S');
const config = normalizeConfig({ family: 'dit', skip: true, patch_size: 2, input_size: 32, in_channels: 4, num_classes: 1000, ...size });
const here = path.dirname(fileURLToPath(import.meta.url));

// The child: load, then report VmHWM (peak RSS) and VmRSS from /proc/self/status.
const child = `
  const { loadModel } = await import(${JSON.stringify(path.join(here, '..', 'lib', 'index.js'))});
  const status = () => Object.fromEntries(require('fs').readFileSync('/proc/self/status', 'utf8').split('\\n')
    .filter((l) => /^Vm(HWM|RSS):/.test(l)).map((l) => [l.split(':')[0], Number(l.split(/\\s+/)[1]) * 1024]));
  const before = status();
  const t0 = performance.now();
  const model = await loadModel(process.argv[1], { backend: 'cpu' });
  const ms = performance.now() - t0;
  const after = status();
  console.log(JSON.stringify({ ms, baseline: before.VmRSS, peak: after.VmHWM, rss: after.VmRSS, weights: model.memory().weightBytes }));
`;

function measure(file: string) {
  execFileSync('sync');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url); ${child}`, file], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { ms: number; baseline: number; peak: number; rss: number; weights: number };
}

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-load-bench-'));
try {
  const st = path.join(dir, 'model.safetensors');
  writeRandomCheckpoint(st, config);
  // The same tensors as a torch.save archive ('archive/' folder, one storage per tensor).
  const pt = path.join(dir, 'model.pt');
  const shapes = Object.entries(checkpointShapes(config));
  const pickle = new PickleWriter().stateDict(shapes.map(([name, shape], i) => ({ name, dtype: 'F32', key: String(i), storageNumel: shape.reduce((a, b) => a * b, 1), shape }))).done();
  let state = 12345;
  writeTorchCheckpoint(pt, 'archive', pickle, shapes.map(([, shape], i) => ({
    key: String(i),
    data: () => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let k = 0; k < data.length; k++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        data[k] = ((state / 2 ** 32) * 2 - 1) * 0.02;
      }
      return Buffer.from(data.buffer);
    },
  })));
  console.log(`DiT-${values.model}/2-skip: safetensors ${(statSync(st).size / 2 ** 30).toFixed(2)} GiB, torch .pt ${(statSync(pt).size / 2 ** 30).toFixed(2)} GiB\n`);
  console.log('file          load s   weights GiB   baseline RSS GiB   peak RSS GiB   peak / weights   (peak - baseline) / weights');
  // Twice each, alternating: the first load of a freshly written file also pays for writing back its pages.
  for (const [label, file] of [['torch .pt', pt], ['safetensors', st], ['torch .pt', pt], ['safetensors', st]] as const) {
    const r = measure(file);
    const g = (b: number) => (b / 2 ** 30).toFixed(2);
    console.log(`${label.padEnd(12)} ${(r.ms / 1000).toFixed(2).padStart(7)} ${g(r.weights).padStart(13)} ${g(r.baseline).padStart(18)} ${g(r.peak).padStart(14)} ${(r.peak / r.weights).toFixed(3).padStart(16)} ${((r.peak - r.baseline) / r.weights).toFixed(3).padStart(29)}`);
  }
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
