// generateHunyuan(): what `skipdit generate --prompt ...` does for a Hunyuan-DiT model, as sample_t2i.py runs it:
// find the files of a HunyuanDiT-v1.2 download (t2i/model, t2i/clip_text_encoder, t2i/tokenizer, t2i/mt5,
// t2i/sdxl-vae-fp16-fix), load them, encode the prompt with BERT and mT5, sample (CFG 6, DDPM 100 steps,
// optionally Skip-Cache `hunyuan:N[:k]`), decode with the VAE (its config's scaling factor) and write a PNG grid.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CachePolicyInput } from './cache.js';
import { inspectCheckpoint } from './checkpoint.js';
import { AbortError, InvalidArgumentError, checkFloat32 } from './errors.js';
import { part, type TextRunTimings } from './generate-t2v.js';
import { imageGrid, writePng, type Image } from './image.js';
import { Model, loadModel, type ModelDType } from './model.js';
import { checkOutputPath } from './output.js';
import { Pipeline, type StepInfo } from './pipeline.js';
import type { Tensor } from './tensor.js';
import { loadTextEncoder, TextEncoderModel } from './text-encoder.js';
import { loadTokenizer } from './tokenizer/index.js';
import { Vae, loadVae } from './vae.js';

export interface GenerateHunyuanOptions {
  /** A HunyuanDiT-v1.2 folder (holding t2i/ or being it), a checkpoint inside one, or a loaded Model. */
  model: string | Model;
  /** Override the parts of the folder: paths, or loaded encoders (not disposed here; mT5's tokenizer is then read from its folder). */
  bert?: string | TextEncoderModel;
  bertTokenizer?: string;
  mt5?: string | TextEncoderModel;
  vae?: string | Vae;
  prompts: string[];
  /** Default: hydit's Chinese negative prompt. */
  negativePrompt?: string;
  /** [height, width] in pixels, multiples of 16 (default 1024 x 1024). */
  size?: [number, number];
  /** Images per prompt (num_images_per_prompt). */
  batch?: number;
  sampler?: 'ddpm' | 'ddim' | 'dpmsolver++';
  steps?: number;
  cfg?: number;
  cache?: false | 'none' | CachePolicyInput;
  seed?: number;
  backend?: 'auto' | 'cpu' | 'cuda';
  dtype?: ModelDType;
  out?: string;
  nrow?: number;
  signal?: AbortSignal;
  onProgress?: (event: { phase: 'load' | 'sample' | 'decode' | 'write'; completed?: number; total?: number; step?: StepInfo }) => void;
}

export interface HunyuanReport extends TextRunTimings {
  model: string | null;
  out: string;
  prompts: string[];
  size: [number, number];
  sampler: string;
  cfgScale: number | null;
  cache: unknown;
  seed: number;
}

/** The parts of a HunyuanDiT-v1.2 download. */
export interface HunyuanLayout {
  checkpoint: string;
  bert?: string;
  bertTokenizer?: string;
  mt5?: string;
  vae?: string;
}

/** t2i/model's checkpoint (EMA preferred, its safetensors conversion before it), clip_text_encoder, tokenizer, mt5, sdxl-vae-fp16-fix. */
export function findHunyuanLayout(modelPath: string): HunyuanLayout {
  if (typeof modelPath !== 'string' || !existsSync(modelPath)) throw InvalidArgumentError.expected('model', 'a HunyuanDiT folder or checkpoint', modelPath);
  let t2i: string, checkpoint: string | undefined;
  if (statSync(modelPath).isDirectory()) {
    t2i = existsSync(path.join(modelPath, 't2i')) ? path.join(modelPath, 't2i') : modelPath;
    const dir = path.join(t2i, 'model');
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => /\.(pt|safetensors)$/.test(f)).sort() : [];
    // EMA weights first; a safetensors conversion (skipdit pull --convert) before the .pt it was made from
    const rank = (f: string) => (/ema/.test(f) ? 0 : 3) + (f.endsWith('.bf16.safetensors') ? 1 : f.endsWith('.safetensors') ? 0 : 2);
    const pick = [...files].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))[0];
    if (!pick) throw InvalidArgumentError.expected('model', 'a folder with t2i/model/pytorch_model_ema.pt (or a .safetensors conversion)', modelPath);
    checkpoint = path.join(dir, pick);
  } else {
    checkpoint = modelPath;
    t2i = path.dirname(path.dirname(modelPath)); // t2i/model/<file>
  }
  const sub = (name: string) => (existsSync(path.join(t2i, name)) ? path.join(t2i, name) : undefined);
  return { checkpoint, bert: sub('clip_text_encoder'), bertTokenizer: sub('tokenizer'), mt5: sub('mt5'), vae: sub('sdxl-vae-fp16-fix') };
}

/** Whether a --model path is a Hunyuan-DiT download or checkpoint (its t2i/ layout, or text_embedding_padding). */
export async function isHunyuanPath(modelPath: string): Promise<boolean> {
  if (!existsSync(modelPath)) return false;
  if (statSync(modelPath).isDirectory()) return existsSync(path.join(modelPath, 't2i', 'model')) || existsSync(path.join(modelPath, 'model', 'pytorch_model_ema.pt'));
  try {
    return (await inspectCheckpoint(modelPath)).tensors['text_embedding_padding'] !== undefined;
  } catch {
    return false; // not a readable checkpoint: the text-to-video path reports it
  }
}

/** Prompts to a PNG with a Hunyuan-DiT model; see GenerateHunyuanOptions. */
export async function generateHunyuan(o: GenerateHunyuanOptions): Promise<{ samples: Tensor; images: Image[]; report: HunyuanReport }> {
  if (typeof o !== 'object' || o === null) throw InvalidArgumentError.expected('options', 'an object', o);
  if (!Array.isArray(o.prompts) || o.prompts.length === 0 || o.prompts.some((p) => typeof p !== 'string')) throw InvalidArgumentError.expected('prompts', 'one or more prompt strings', o.prompts);
  checkFloat32('cfg', o.cfg);
  const out = o.out ?? 'sample.png';
  if (path.extname(out).toLowerCase() !== '.png') throw InvalidArgumentError.expected('out', 'a .png file', out);
  checkOutputPath(out, 'file', 'out');
  const layout = typeof o.model === 'string' ? findHunyuanLayout(o.model) : undefined;
  const emit = o.onProgress ?? (() => {});
  const stop = (when: string) => {
    if (o.signal?.aborted) throw new AbortError(`Generation aborted ${when}; nothing was written`, { cause: o.signal.reason });
  };
  const owned: { dispose(): void }[] = [];
  try {
    emit({ phase: 'load' });
    if (layout) {
      const { tensors } = await inspectCheckpoint(layout.checkpoint);
      if (tensors['text_embedding_padding'] === undefined) {
        throw new InvalidArgumentError(`Expected a Hunyuan-DiT checkpoint for model but '${layout.checkpoint}' has no text_embedding_padding (a DiT or Latte model?)`);
      }
    }
    const bertDir = o.bert instanceof TextEncoderModel ? undefined : part(o.bert, layout?.bert, 'bert', 'the t2i/clip_text_encoder folder');
    const bertTokDir = part(o.bertTokenizer, layout?.bertTokenizer, 'bertTokenizer', 'the t2i/tokenizer folder');
    const mt5Dir = o.mt5 instanceof TextEncoderModel ? o.mt5.dir : part(o.mt5, layout?.mt5, 'mt5', 'the t2i/mt5 folder');
    const vaePath = o.vae instanceof Vae ? undefined : part(o.vae, layout?.vae, 'vae', 'the t2i/sdxl-vae-fp16-fix folder');
    const model = o.model instanceof Model ? o.model : await loadModel(layout!.checkpoint, { backend: o.backend ?? 'auto', dtype: o.dtype, signal: o.signal });
    if (model !== o.model) owned.push(model);
    if (model.config.family !== 'hunyuan-dit') throw InvalidArgumentError.expected('model', 'a Hunyuan-DiT model', `a ${model.config.family} model`);
    const encoderDtype = o.dtype === 'float16' && model.backend === 'cpu' ? undefined : o.dtype;
    // the official BERT runs in fp32
    const bert = o.bert instanceof TextEncoderModel ? o.bert : await loadTextEncoder(bertDir!, { backend: model.backend, signal: o.signal });
    if (bert !== o.bert) owned.push(bert);
    const mt5 = o.mt5 instanceof TextEncoderModel ? o.mt5 : await loadTextEncoder(mt5Dir, { backend: model.backend, dtype: encoderDtype, signal: o.signal });
    if (mt5 !== o.mt5) owned.push(mt5);
    const bertTokenizer = await loadTokenizer(bertTokDir);
    const mt5Tokenizer = await loadTokenizer(mt5Dir);
    const vae = o.vae instanceof Vae ? o.vae : await loadVae(vaePath!, { signal: o.signal });
    if (vae !== o.vae) owned.push(vae);
    stop('after loading');

    const cache = o.cache === undefined || o.cache === 'none' ? false : o.cache;
    const pipe = new Pipeline(model, {
      sampler: o.sampler ?? 'ddpm', steps: o.steps ?? 100, cfgScale: o.cfg ?? 6, cache,
      textEncoders: { bert: bert as TextEncoderModel, bertTokenizer, mt5, mt5Tokenizer },
    });
    owned.push(pipe);
    const size = o.size ?? [1024, 1024];
    pipe.init({ prompts: o.prompts, negativePrompt: o.negativePrompt, size, batch: o.batch, seed: o.seed ?? 0 });
    const total = pipe.sampler.steps;
    const started = performance.now();
    const samples = await pipe.run({ signal: o.signal, onStep: (step) => emit({ phase: 'sample', completed: step.index + 1, total, step }) });
    const encodeMs = pipe.history[0]?.encodeMs ?? 0;
    const sampleMs = performance.now() - started - encodeMs;
    stop('after sampling');
    emit({ phase: 'decode' });
    const decodeStarted = performance.now();
    const pixels = await vae.decode(samples, { signal: o.signal }); // latents / scaling_factor (its config.json)
    const decodeMs = performance.now() - decodeStarted;
    stop('after decoding');
    const n = samples.shape[0];
    const images = [imageGrid(pixels, { nrow: o.nrow ?? Math.ceil(Math.sqrt(n)), mapping: 'diffusers' })];
    emit({ phase: 'write' });
    writePng(out, images[0]);
    const stats = pipe.cacheStats;
    return {
      samples, images,
      report: {
        model: layout?.checkpoint ?? null, out, prompts: o.prompts, size, steps: total, sampler: o.sampler ?? 'ddpm', cfgScale: pipe.cfgScale ?? null,
        cache: pipe.cachePolicy ?? null, seed: o.seed ?? 0, encodeMs, sampleMs, decodeMs, fullSteps: stats.fullSteps, cachedSteps: stats.cachedSteps,
        predictedSpeedup: stats.predictedSpeedup,
      },
    };
  } finally {
    for (const d of owned.reverse()) d.dispose();
  }
}
