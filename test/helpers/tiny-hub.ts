// The released repositories' layouts with tiny random weights, for a FakeHub: what `skipdit pull`'s recipes fetch
// (and files they must leave on the Hub: other weight formats, non-EMA weights, other models). Used by
// test/hub-recipes.test.ts and bench/fake-hub-serve.ts.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { generator, randomTensor, stateDictCheckpoint } from '../../bench/random-folders.js';
import { writeTinyHunyuanFolder } from '../../bench/tiny-hunyuan.js';
import { writeTinyT2VFolder } from '../../bench/tiny-t2v.js';
import { modelParams } from '../../lib/architecture.js';
import { presets } from '../../lib/config.js';
import { packageRoot } from '../../lib/native.js';
import type { FakeHub } from './fake-hub.js';

/** A DiT-skip of an official width (DiT-S's 384: its heads are inferred, as for the released file), 2 blocks, 8x8 latents. */
export const TINY_DIT = { ...presets['DiT-XL/2-skip'], hidden_size: 384, num_heads: 6, depth: 2, input_size: 8, num_classes: 10 };

function writeTinyDit(file: string): void {
  const next = generator(3);
  const names = modelParams(TINY_DIT).map((p) => [p.name, [...p.shape]] as [string, number[]]);
  stateDictCheckpoint(file, names, names.map(([n, shape]) => randomTensor(n, shape, next)));
}

/** Every file under `dir`, as repository paths -> bytes. */
function folderFiles(dir: string, prefix = ''): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) Object.assign(out, folderFiles(p, `${prefix}${name}/`));
    else out[prefix + name] = readFileSync(p);
  }
  return out;
}

const pick = (files: Record<string, Buffer>, keep: (p: string) => boolean) => Object.fromEntries(Object.entries(files).filter(([p]) => keep(p)));

/** Writes the tiny models under `work` and adds the six repositories to `hub`. */
export function addTinyReleasedRepos(hub: FakeHub, work: string): void {
  const t2v = path.join(work, 'Latte-1');
  writeTinyT2VFolder(t2v);
  const hy = path.join(work, 'HunyuanDiT-v1.2');
  writeTinyHunyuanFolder(hy);
  writeTinyDit(path.join(work, 'DiT-XL-2-skip.pt'));
  const fixture = (name: string, file: string) => readFileSync(path.join(packageRoot(), 'test', 'fixtures', name, file));
  const t2vFiles = folderFiles(t2v);
  const vae = { 'config.json': fixture('vae-tiny', 'config.json'), 'diffusion_pytorch_model.safetensors': fixture('vae-tiny', 'model.safetensors') };
  hub.addRepo('GuanjieChen/Skip-DiT', {
    'DiT-XL-2-skip.pt': readFileSync(path.join(work, 'DiT-XL-2-skip.pt')), 'Latte-skip.pt': t2vFiles['Latte-skip.pt'],
    'skylapse-skip.pt': fixture('dit-skip-tiny', 'ckpt-train.pt'), 'README.md': Buffer.from('# Skip-DiT'),
  });
  hub.addRepo('stabilityai/sd-vae-ft-ema', { ...vae, 'diffusion_pytorch_model.bin': Buffer.alloc(4096, 1), 'README.md': Buffer.from('# vae') });
  hub.addRepo('maxin-cn/Latte', { ...Object.fromEntries(Object.entries(vae).map(([k, v]) => [`vae/${k}`, v])), 'skytimelapse.pt': Buffer.alloc(8192, 2) });
  hub.addRepo('maxin-cn/Latte-0', {
    ...pick(t2vFiles, (p) => p !== 'Latte-skip.pt' && !p.startsWith('tokenizer/')),
    'transformer/diffusion_pytorch_model.safetensors': Buffer.alloc(8192, 3), 'vae/config.json': Buffer.from('{}'),
  });
  hub.addRepo('maxin-cn/Latte-1', { ...pick(t2vFiles, (p) => p.startsWith('tokenizer/')), 'transformer/diffusion_pytorch_model.safetensors': Buffer.alloc(8192, 4) });
  hub.addRepo('Tencent-Hunyuan/HunyuanDiT-v1.2', { ...folderFiles(hy), 't2i/model/pytorch_model_module.pt': Buffer.alloc(8192, 5), 'dialoggen/model.bin': Buffer.alloc(8192, 6) });
}
