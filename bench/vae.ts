// npm run bench:vae: decoding one 32x32x4 latent to a 256x256 image (and 64x64 -> 512x512 with --size 512)
// with the real sd-vae-ft-ema/-mse decoder config and random weights; time, achieved GFLOP/s, peak RSS.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadVae, sdVaeConfig, type VaeConfig } from '../lib/index.js';
import { writeVaeWeights } from './vae-weights.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' } } });
const size = Number(values.size), latent = size / 8, runs = Number(values.runs);


/** FLOPs of one decode (2 per multiply-add): every conv, the attention, and the up-sampling path. */
function decodeFlops(c: VaeConfig, h: number): number {
  let flops = 0, res = h;
  const conv = (cin: number, cout: number, k: number, r: number) => (flops += 2 * cin * cout * k * k * r * r);
  const resnet = (i: number, o: number, r: number) => { conv(i, o, 3, r); conv(o, o, 3, r); if (i !== o) conv(i, o, 1, r); };
  const top = c.block_out_channels[c.block_out_channels.length - 1];
  conv(c.latent_channels, c.latent_channels, 1, res);
  conv(c.latent_channels, top, 3, res);
  resnet(top, top, res);
  flops += 2 * 4 * top * top * res * res + 4 * (res * res) ** 2 * top; // q, k, v, out projections + scores and mix
  resnet(top, top, res);
  let prev = top;
  [...c.block_out_channels].reverse().forEach((ch, i, all) => {
    for (let j = 0; j <= c.layers_per_block; j++) resnet(j === 0 ? prev : ch, ch, res);
    if (i < all.length - 1) { res *= 2; conv(ch, ch, 3, res); }
    prev = ch;
  });
  conv(prev, c.out_channels, 3, res);
  return flops;
}

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-vae-bench-'));
try {
  const file = path.join(dir, 'vae.safetensors');
  writeVaeWeights(file, sdVaeConfig);
  const vae = await loadVae(file);
  const z = { data: new Float32Array(4 * latent * latent).map((_, i) => Math.sin(i)), shape: [1, 4, latent, latent] };
  await vae.decode(z); // warm-up
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await vae.decode(z);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  const gflop = decodeFlops(sdVaeConfig, latent) / 1e9;
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 2 ** 20;
  console.log(`sd-vae-ft decoder (random weights), one ${latent}x${latent}x4 latent -> ${size}x${size} image, CPU`);
  console.log(`median ${(ms / 1000).toFixed(2)} s over ${runs} runs (min ${(times[0] / 1000).toFixed(2)} s), ${gflop.toFixed(0)} GFLOP, ${(gflop / (ms / 1000)).toFixed(1)} GFLOP/s, peak RSS ${hwm.toFixed(2)} GiB`);
  vae.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
