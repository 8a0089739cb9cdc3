// A float64 reference of the SD VAE decoder (diffusers AutoencoderKL: post_quant_conv, then Decoder.forward)
// from reference/ops.ts, in diffusers tensor names. Slow and obvious on purpose; used to check the native
// decoder's fixture independently and to emulate the CUDA backend's bfloat16 / float16 weights.
import type { NativeVaeConfig } from '../../binding.js';
import * as op from './ops.js';

const EPS = 1e-6;

/**
 * vae.decode(z).sample for z (B, latent_channels, h, w). lowPrecision (e.g. roundBf16): the math of the CUDA
 * backend with bf16 / fp16 weights - every convolution and linear layer rounds its weight and its input to
 * that type and accumulates exactly; group norms, SiLU, attention and the residual adds stay float64.
 */
export function referenceVaeDecode(c: NativeVaeConfig, w: Record<string, Float32Array>, z: Float32Array, shape: number[],
                                   lowPrecision?: (a: op.Arr) => ArrayLike<number>): { data: Float64Array; shape: number[] } {
  const round = (a: op.Arr) => (lowPrecision ? lowPrecision(a) : a);
  let [B, C, H, W] = shape;
  let x: Float64Array = Float64Array.from(z);
  const conv = (name: string, cout: number, k: number, input = x) => {
    const y = op.conv2d(round(input), B, C, H, W, round(w[`${name}.weight`]), w[`${name}.bias`], cout, k);
    return y;
  };
  const norm = (name: string, input: Float64Array, ch: number, silu: boolean) =>
    op.groupNorm(input, B, ch, H * W, c.norm_num_groups, EPS, w[`${name}.weight`], w[`${name}.bias`], silu);
  const resnet = (name: string, cout: number) => {
    const cin = C;
    let h = norm(`${name}.norm1`, x, cin, true);
    h = conv(`${name}.conv1`, cout, 3, h);
    C = cout;
    h = conv(`${name}.conv2`, cout, 3, norm(`${name}.norm2`, h, cout, true));
    C = cin;
    const skip = cin !== cout ? conv(`${name}.conv_shortcut`, cout, 1, x) : x;
    C = cout;
    for (let i = 0; i < h.length; i++) h[i] += skip[i];
    x = h;
  };
  const attention = (name: string) => {
    const HW = H * W;
    const n = norm(`${name}.group_norm`, x, C, false);
    const tokens = new Float64Array(B * HW * C); // (B, C, HW) -> (B, HW, C)
    for (let b = 0; b < B; b++) for (let ch = 0; ch < C; ch++) for (let p = 0; p < HW; p++) tokens[(b * HW + p) * C + ch] = n[(b * C + ch) * HW + p];
    const lin = (v: op.Arr, proj: string) => op.linear(round(v), B * HW, C, round(w[`${name}.${proj}.weight`]), w[`${name}.${proj}.bias`], C);
    const [q, k, v] = ['to_q', 'to_k', 'to_v'].map((p) => lin(tokens, p));
    const qkv = new Float64Array(B * HW * 3 * C); // [q | k | v] per token, one head of dim C
    for (let r = 0; r < B * HW; r++) for (let ch = 0; ch < C; ch++) {
      qkv[r * 3 * C + ch] = q[r * C + ch];
      qkv[r * 3 * C + C + ch] = k[r * C + ch];
      qkv[r * 3 * C + 2 * C + ch] = v[r * C + ch];
    }
    const out = lin(op.attention(qkv, B, HW, 1, C), 'to_out.0');
    for (let b = 0; b < B; b++) for (let ch = 0; ch < C; ch++) for (let p = 0; p < HW; p++) x[(b * C + ch) * HW + p] += out[(b * HW + p) * C + ch];
  };

  x = conv('post_quant_conv', c.latent_channels, 1);
  const top = c.block_out_channels[c.block_out_channels.length - 1];
  x = conv('decoder.conv_in', top, 3);
  C = top;
  resnet('decoder.mid_block.resnets.0', top);
  if (c.mid_block_add_attention) attention('decoder.mid_block.attentions.0');
  resnet('decoder.mid_block.resnets.1', top);
  const levels = c.block_out_channels.length;
  for (let i = 0; i < levels; i++) {
    const ch = c.block_out_channels[levels - 1 - i];
    for (let j = 0; j <= c.layers_per_block; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, ch);
    if (i < levels - 1) {
      const up = new Float64Array(B * C * 4 * H * W); // nearest 2x
      for (let bc = 0; bc < B * C; bc++)
        for (let y = 0; y < 2 * H; y++) for (let xx = 0; xx < 2 * W; xx++) up[(bc * 2 * H + y) * 2 * W + xx] = x[(bc * H + (y >> 1)) * W + (xx >> 1)];
      H *= 2;
      W *= 2;
      x = conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, C, 3, up);
    }
  }
  x = norm('decoder.conv_norm_out', x, C, true);
  x = conv('decoder.conv_out', c.out_channels, 3);
  return { data: x, shape: [B, c.out_channels, H, W] };
}
