// Random SD-VAE decoder weights with the current diffusers names, for the VAE benchmarks (bench/vae.ts,
// bench/gpu.ts).
import type { VaeConfig } from '../lib/index.js';
import { writeSafetensors } from '../lib/safetensors.js';

/** Decoder weights of `c` with the current diffusers names (uniform, scaled by fan-in). */
export function decoderWeights(c: VaeConfig): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  let state = 7;
  const add = (name: string, shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1), fan = shape.length > 1 ? n / shape[0] : 0;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const u = (state / 2 ** 32) * 2 - 1;
      data[i] = fan ? u * Math.sqrt(3 / fan) : name.endsWith('weight') ? 1 + 0.1 * u : 0.1 * u;
    }
    out[name] = { shape, data };
  };
  const conv = (p: string, o: number, i: number, k: number) => { add(`${p}.weight`, [o, i, k, k]); add(`${p}.bias`, [o]); };
  const norm = (p: string, ch: number) => { add(`${p}.weight`, [ch]); add(`${p}.bias`, [ch]); };
  const resnet = (p: string, i: number, o: number) => { norm(`${p}.norm1`, i); conv(`${p}.conv1`, o, i, 3); norm(`${p}.norm2`, o); conv(`${p}.conv2`, o, o, 3); if (i !== o) conv(`${p}.conv_shortcut`, o, i, 1); };
  const top = c.block_out_channels[c.block_out_channels.length - 1];
  conv('post_quant_conv', c.latent_channels, c.latent_channels, 1);
  conv('decoder.conv_in', top, c.latent_channels, 3);
  resnet('decoder.mid_block.resnets.0', top, top);
  norm('decoder.mid_block.attentions.0.group_norm', top);
  for (const q of ['to_q', 'to_k', 'to_v', 'to_out.0']) { add(`decoder.mid_block.attentions.0.${q}.weight`, [top, top]); add(`decoder.mid_block.attentions.0.${q}.bias`, [top]); }
  resnet('decoder.mid_block.resnets.1', top, top);
  let prev = top;
  [...c.block_out_channels].reverse().forEach((ch, i, all) => {
    for (let j = 0; j <= c.layers_per_block; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : ch, ch);
    if (i < all.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, ch, ch, 3);
    prev = ch;
  });
  norm('decoder.conv_norm_out', prev);
  conv('decoder.conv_out', c.out_channels, prev, 3);
  return out;
}

export function writeVaeWeights(file: string, c: VaeConfig): void {
  writeSafetensors(file, decoderWeights(c));
}
