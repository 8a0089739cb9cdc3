// The files each released Skip-DiT system needs, and nothing else from large repositories (the Latte repos hold
// every class model; HunyuanDiT-v1.2 also the non-EMA weights and other tools). Repos and paths follow the
// official download scripts: class-to-image/sample.py (stabilityai/sd-vae-ft-<vae>), class-to-video/download.py
// (maxin-cn/Latte, its vae/), text-to-video/download.py (maxin-cn/Latte-0, the tokenizer from maxin-cn/Latte-1),
// and the Skip-DiT README (HunyuanDiT-v1.2's t2i/).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { convertCheckpoint } from '../checkpoint.js';
import type { ModelConfigInput } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import { findT2VLayout } from '../generate-t2v.js';
import { downloadSnapshot, type Snapshot, type SnapshotRequest } from './hub.js';
import type { HubOptions } from './settings.js';

const SKIP_DIT = 'GuanjieChen/Skip-DiT';

/** The paths `skipdit generate` and the generate*() functions take for one system. */
export interface RecipeParts {
  /** The checkpoint (a converted .safetensors next to the .pt when there is one), or for Hunyuan-DiT the download's folder. */
  model: string;
  /** The VAE folder. */
  vae?: string;
  /** Text-to-video: the Latte-0 folder (text_encoder, vae_temporal_decoder, scheduler, transformer/config.json), the official pretrained_model_path. */
  base?: string;
  /** Text-to-video: the T5 tokenizer folder (Latte-1's, as the official download script takes it). */
  tokenizer?: string;
}

export interface Recipe {
  name: string;
  task: 'class-to-image' | 'class-to-video' | 'text-to-video' | 'text-to-image';
  description: string;
  /** The repositories and the files of each. */
  sources: Record<string, SnapshotRequest>;
  /** Where the parts are, given each source's snapshot. */
  parts(s: Record<string, Snapshot>): RecipeParts;
  /** The checkpoints (.pt) that --convert writes as safetensors, with the config fields the download tells. */
  checkpoints(s: Record<string, Snapshot>): { file: string; config?: ModelConfigInput }[];
}

const weights = (folder: string) => ({ folder, weights: true });
const fileOf = (s: Snapshot, i = 0) => s.files[i].local;

/** The safetensors written by --convert next to a .pt, when it is there: loads memory-mapped. */
export function convertedPath(pt: string, dtype: 'keep' | 'bfloat16' = 'keep'): string {
  return pt.replace(/\.(pt|pth|bin|ckpt)$/, '') + (dtype === 'bfloat16' ? '.bf16.safetensors' : '.safetensors');
}

function preferConverted(pt: string): string {
  return [convertedPath(pt), convertedPath(pt, 'bfloat16')].find((p) => existsSync(p)) ?? pt;
}

function classVideo(name: string, files: string[], dataset: string): Recipe {
  return {
    name, task: 'class-to-video', description: `Latte-skip class-to-video, ${dataset} (2.8 GB) + Latte's VAE`,
    sources: { model: { repo: SKIP_DIT, files: [files] }, vae: { repo: 'maxin-cn/Latte', folders: [weights('vae')] } },
    parts: (s) => ({ model: preferConverted(fileOf(s.model)), vae: path.join(s.vae.dir, 'vae') }),
    checkpoints: (s) => [{ file: fileOf(s.model) }],
  };
}

export const recipes: Record<string, Recipe> = {
  'dit-xl-2-skip': {
    name: 'dit-xl-2-skip', task: 'class-to-image', description: 'DiT-XL/2-skip, ImageNet 256x256 (11.4 GB) + stabilityai/sd-vae-ft-ema',
    sources: { model: { repo: SKIP_DIT, files: ['DiT-XL-2-skip.pt'] }, vae: { repo: 'stabilityai/sd-vae-ft-ema', folders: [weights('')] } },
    parts: (s) => ({ model: preferConverted(fileOf(s.model)), vae: s.vae.dir }),
    checkpoints: (s) => [{ file: fileOf(s.model) }],
  },
  'latte-skip-t2v': {
    name: 'latte-skip-t2v', task: 'text-to-video', description: 'Latte-skip text-to-video 512 (8.8 GB) + Latte-0\'s T5-XXL, temporal VAE and scheduler, Latte-1\'s tokenizer',
    sources: {
      model: { repo: SKIP_DIT, files: ['Latte-skip.pt'] },
      base: { repo: 'maxin-cn/Latte-0', files: ['transformer/config.json', 'scheduler/scheduler_config.json'], folders: [weights('text_encoder'), weights('vae_temporal_decoder')] },
      tokenizer: { repo: 'maxin-cn/Latte-1', folders: [{ folder: 'tokenizer', weights: false }] },
    },
    parts: (s) => ({ model: preferConverted(fileOf(s.model)), base: s.base.dir, tokenizer: path.join(s.tokenizer.dir, 'tokenizer') }),
    // heads and sample size from Latte-0's transformer/config.json, as generateVideo reads them
    checkpoints: (s) => [{ file: fileOf(s.model), config: findT2VLayout(fileOf(s.model), 'model', s.base.dir).transformerConfig }],
  },
  'ucf101-skip': classVideo('ucf101-skip', ['ucf101-skip.pt'], 'UCF101'),
  'taichi-skip': classVideo('taichi-skip', ['taichi-skip.pt'], 'Taichi-HD'),
  // The README links skylapse-skip.pt, download.py asks for skytimelapse-skip.pt: whichever the repository has.
  'skytimelapse-skip': classVideo('skytimelapse-skip', ['skytimelapse-skip.pt', 'skylapse-skip.pt'], 'SkyTimelapse'),
  'ffs-skip': classVideo('ffs-skip', ['ffs-skip.pt'], 'FaceForensics'),
  'hunyuan-dit-v1.2': {
    name: 'hunyuan-dit-v1.2', task: 'text-to-image', description: 'Hunyuan-DiT v1.2 (DiT-g/2, EMA weights) + its BERT, mT5-XL, tokenizer and sdxl-vae-fp16-fix',
    sources: {
      model: {
        repo: 'Tencent-Hunyuan/HunyuanDiT-v1.2', files: ['t2i/model/pytorch_model_ema.pt'],
        folders: [weights('t2i/clip_text_encoder'), { folder: 't2i/tokenizer', weights: false }, weights('t2i/mt5'), weights('t2i/sdxl-vae-fp16-fix')],
      },
    },
    parts: (s) => ({ model: s.model.dir }),
    checkpoints: (s) => [{ file: fileOf(s.model) }],
  },
};

export type RecipeName = keyof typeof recipes;

export function isRecipeName(value: unknown): value is RecipeName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(recipes, value);
}

export interface PullOptions extends HubOptions {
  /** Also write each .pt as safetensors next to it (bf16 matrices with 'bfloat16'), once; later loads map it. */
  convert?: boolean | 'bfloat16';
  /** Per-source revisions (a commit pins that repository), keyed by the recipe's source names (model, vae, ...). */
  revisions?: Record<string, string>;
}

export interface PullResult {
  recipe: string;
  parts: RecipeParts;
  snapshots: Record<string, Snapshot>;
  /** Safetensors written by `convert` in this call. */
  converted: string[];
  /** Every file: bytes on disk, bytes received now. */
  bytes: number;
  received: number;
}

/** Fetches (or finds in the cache) everything `name` needs; see recipes. */
export async function pull(name: string, options: PullOptions = {}): Promise<PullResult> {
  if (!isRecipeName(name)) throw InvalidArgumentError.expected('name', `one of ${Object.keys(recipes).join(', ')}`, name);
  const { convert, revisions, revision, ...hub } = options;
  if (convert !== undefined && convert !== true && convert !== false && convert !== 'bfloat16') throw InvalidArgumentError.expected('options.convert', "a boolean or 'bfloat16'", convert);
  const recipe = recipes[name];
  if (revision !== undefined && Object.keys(recipe.sources).length > 1) {
    throw InvalidArgumentError.expected('options.revision', `none for '${name}', which has ${Object.keys(recipe.sources).length} repositories (use options.revisions: { ${Object.keys(recipe.sources).join(', ')} })`, revision);
  }
  for (const key of Object.keys(revisions ?? {})) {
    if (!(key in recipe.sources)) throw InvalidArgumentError.expected(`options.revisions.${key}`, `one of ${Object.keys(recipe.sources).join(', ')}`, key);
  }
  const snapshots: Record<string, Snapshot> = {};
  for (const [key, req] of Object.entries(recipe.sources)) snapshots[key] = await downloadSnapshot(req, { ...hub, revision: revisions?.[key] ?? revision });
  const converted: string[] = [];
  if (convert) {
    const dtype = convert === 'bfloat16' ? 'bfloat16' : 'keep';
    for (const { file, config } of recipe.checkpoints(snapshots)) {
      const out = convertedPath(file, dtype);
      if (existsSync(out)) continue;
      await convertCheckpoint(file, out, { dtype, config });
      converted.push(out);
    }
  }
  const files = Object.values(snapshots).flatMap((s) => s.files);
  return {
    recipe: name, parts: recipe.parts(snapshots), snapshots, converted,
    bytes: files.reduce((a, f) => a + f.size, 0), received: files.reduce((a, f) => a + f.received, 0),
  };
}
