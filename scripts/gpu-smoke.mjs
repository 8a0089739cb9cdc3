// A short CUDA run for compute-sanitizer (scripts/test-gpu.sh): one tiny DiT-skip forward in each precision,
// a full + cached Skip-Cache pair, four plain calls (CUDA graph capture and replay among them), a 6-step guided
// DDPM Pipeline with the latents on the device (sampler_update with noise, graphs), and a VAE decode with
// float32 and bfloat16 weights. Exits non-zero on any error. Needs `npm run build:ts`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Pipeline, loadModel, loadVae } from '../dist/lib/index.js';

const fx = path.resolve('test/fixtures');
const x = { data: Float32Array.from({ length: 2 * 4 * 8 * 8 }, (_, i) => Math.sin(i)), shape: [2, 4, 8, 8] };
for (const dtype of ['float32', 'bfloat16', 'float16']) {
  const model = await loadModel(path.join(fx, 'dit-skip-tiny', 'model.safetensors'), { backend: 'cuda', dtype });
  const cache = model.createCache({ interval: 2, branch: 1 });
  const a = await model.forward({ x, t: [500, 500], y: [1, 2] }, { cache });
  const b = await model.forward({ x, t: [480, 480], y: [1, 2] }, { cache });
  if (a.cached || !b.cached || !a.data.every(Number.isFinite) || !b.data.every(Number.isFinite)) throw new Error(`bad ${dtype} run`);
  // four plain calls: eager, eager, CUDA graph capture, replay (docs/cuda.md), all under the memory checker
  const plain = [];
  for (let j = 0; j < 4; j++) plain.push(await model.forward({ x, t: [400 - j, 400 - j], y: [1, 2] }));
  if (!plain[2].graph || !plain[3].graph || !plain.every((r) => r.data.every(Number.isFinite))) throw new Error(`bad ${dtype} graph run`);
  const pipe = new Pipeline(model, { steps: 6, sampler: 'ddpm', cfgScale: 4, cache: 'dit:2:1' }).init({ labels: [5], seed: 1 });
  const samples = await pipe.run();
  if (!samples.data.every(Number.isFinite) || !pipe.history.some((s) => s.graph)) throw new Error(`bad ${dtype} pipeline run`);
  pipe.dispose();
  model.dispose();
}
const config = JSON.parse(readFileSync(path.join(fx, 'vae-tiny', 'config.json'), 'utf8'));
for (const dtype of ['float32', 'bfloat16']) {
  const vae = await loadVae(path.join(fx, 'vae-tiny', 'model.safetensors'), { config, backend: 'cuda', dtype });
  const img = await vae.decode({ data: Float32Array.from({ length: 4 * 4 * 5 }, (_, i) => Math.cos(i)), shape: [1, 4, 4, 5] });
  if (!img.data.every(Number.isFinite)) throw new Error(`bad ${dtype} VAE run`);
  vae.dispose();
}
console.log('gpu-smoke: ok');
