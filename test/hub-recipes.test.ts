// `skipdit pull` recipes and hf:// loading against a Hub on 127.0.0.1 that serves the released repositories'
// layouts with tiny random weights: each recipe fetches exactly its files, the pulled folders load directly
// (loadModel, loadVae, loadTextEncoder, loadTokenizer, generateVideo, generateHunyuan, the CLI), and --convert
// writes safetensors next to the .pt.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError, convertedPath, generateHunyuan, generateVideo, inspectCheckpoint, loadModel, loadTextEncoder, loadTokenizer, loadVae, pull, recipes,
} from '../lib/index.js';
import { FakeHub } from './helpers/fake-hub.js';
import { cli } from './helpers/cli.js';
import { addTinyReleasedRepos } from './helpers/tiny-hub.js';

let hub: FakeHub;
let root: string;
let cacheDir: string;
let hubOptions: { endpoint: string; cacheDir: string; token: false };

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'skipdit-recipes-'));
  cacheDir = path.join(root, 'hf', 'hub');
  hub = await new FakeHub().start();
  addTinyReleasedRepos(hub, root);
  hubOptions = { endpoint: hub.url, cacheDir, token: false };
}, 60_000);
afterAll(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

describe('recipes fetch exactly what each system needs', () => {
  it('dit-xl-2-skip: the checkpoint and the VAE folder (safetensors, not the .bin); both load', async () => {
    const r = await pull('dit-xl-2-skip', hubOptions);
    expect(Object.values(r.snapshots).flatMap((s) => s.files.map((f) => `${s.repo}/${f.path}`))).toEqual([
      'GuanjieChen/Skip-DiT/DiT-XL-2-skip.pt', 'stabilityai/sd-vae-ft-ema/config.json', 'stabilityai/sd-vae-ft-ema/diffusion_pytorch_model.safetensors',
    ]);
    expect(r.parts.model).toBe(path.join(cacheDir, 'models--GuanjieChen--Skip-DiT', 'snapshots', hub.repos.get('GuanjieChen/Skip-DiT')!.refs.main, 'DiT-XL-2-skip.pt'));
    const model = await loadModel(r.parts.model, { backend: 'cpu' });
    const vae = await loadVae(r.parts.vae!);
    expect([model.config.hidden_size, model.config.num_heads, vae.config.latent_channels]).toEqual([384, 6, 4]);
    model.dispose();
    vae.dispose();
  });

  it('latte-skip-t2v: Latte-skip.pt, Latte-0\'s text encoder, temporal VAE, configs, Latte-1\'s tokenizer; generateVideo runs on them', async () => {
    const r = await pull('latte-skip-t2v', hubOptions);
    const fetched = Object.values(r.snapshots).flatMap((s) => s.files.map((f) => `${s.repo}/${f.path}`));
    expect(fetched).toEqual([
      'GuanjieChen/Skip-DiT/Latte-skip.pt',
      'maxin-cn/Latte-0/transformer/config.json', 'maxin-cn/Latte-0/scheduler/scheduler_config.json',
      'maxin-cn/Latte-0/text_encoder/config.json', 'maxin-cn/Latte-0/text_encoder/model.safetensors',
      'maxin-cn/Latte-0/vae_temporal_decoder/config.json', 'maxin-cn/Latte-0/vae_temporal_decoder/diffusion_pytorch_model.safetensors',
      'maxin-cn/Latte-1/tokenizer/spiece.model',
    ]);
    const out = path.join(root, 't2v.gif');
    const v = await generateVideo({ model: r.parts.model, base: r.parts.base, tokenizer: r.parts.tokenizer, prompts: ['a fish'], frames: 4, steps: 2, out, backend: 'cpu' });
    expect(v.samples.shape).toEqual([1, 4, 4, 16, 16]);
    expect(readFileSync(out).subarray(0, 6).toString()).toBe('GIF89a');
  });

  it('hunyuan-dit-v1.2: t2i/ without the non-EMA weights; generateHunyuan runs on the snapshot folder', async () => {
    const r = await pull('hunyuan-dit-v1.2', hubOptions);
    const fetched = r.snapshots.model.files.map((f) => f.path);
    expect(fetched).not.toContain('t2i/model/pytorch_model_module.pt');
    expect(fetched.some((p) => p.startsWith('dialoggen/'))).toBe(false);
    expect(fetched[0]).toBe('t2i/model/pytorch_model_ema.pt');
    expect(fetched.filter((p) => p.startsWith('t2i/mt5/')).length).toBeGreaterThan(1);
    const h = await generateHunyuan({ model: r.parts.model, prompts: ['渔舟唱晚'], size: [64, 64], steps: 2, out: path.join(root, 'hy.png'), backend: 'cpu' });
    expect(h.samples.shape).toEqual([1, 4, 8, 8]);
  });

  it('skytimelapse-skip takes whichever name the repository has; class-video VAEs come from maxin-cn/Latte/vae', async () => {
    const r = await pull('skytimelapse-skip', hubOptions);
    expect(r.snapshots.model.files.map((f) => f.path)).toEqual(['skylapse-skip.pt']);
    expect(r.parts.vae!.endsWith(`${path.sep}vae`)).toBe(true);
    expect(readdirSync(r.parts.vae!).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
    await expect(pull('ucf101-skip', hubOptions)).rejects.toMatchObject({ name: 'HubNotFoundError', missing: 'file', file: 'ucf101-skip.pt' });
  });

  it('refuses unknown names and a revision for a recipe of several repositories', async () => {
    await expect(pull('dit-xl-3', hubOptions)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(pull('latte-skip-t2v', { ...hubOptions, revision: 'main' })).rejects.toThrow(/options.revisions/);
    expect(Object.keys(recipes)).toEqual(['dit-xl-2-skip', 'latte-skip-t2v', 'ucf101-skip', 'taichi-skip', 'skytimelapse-skip', 'ffs-skip', 'hunyuan-dit-v1.2']);
  });
});

describe('hf:// paths in the loaders', () => {
  it('loadModel, loadVae, loadTextEncoder and loadTokenizer download and load; a revision pins', async () => {
    const hubOpt = { hub: hubOptions };
    const model = await loadModel('hf://GuanjieChen/Skip-DiT/DiT-XL-2-skip.pt', { ...hubOpt, backend: 'cpu' });
    model.dispose();
    const vae = await loadVae('hf://stabilityai/sd-vae-ft-ema', hubOpt);
    vae.dispose();
    const encoder = await loadTextEncoder('hf://maxin-cn/Latte-0/text_encoder', hubOpt);
    encoder.dispose();
    const tokenizer = await loadTokenizer('hf://maxin-cn/Latte-1/tokenizer', hubOpt);
    expect(tokenizer.kind).toBe('t5');
    const commit = hub.repos.get('stabilityai/sd-vae-ft-ema')!.refs.main;
    const pinned = await loadVae(`hf://stabilityai/sd-vae-ft-ema@${commit}`, { hub: { ...hubOptions, offline: true } });
    pinned.dispose();
    await expect(loadVae('hf://stabilityai/sd-vae-ft-ema', { hub: hubOptions, revision: 'v2' })).rejects.toMatchObject({ name: 'HubNotFoundError', missing: 'revision' });
    await expect(loadModel('local.pt', { revision: 'main' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('--convert and the CLI', () => {
  it('skipdit pull --convert writes safetensors next to the .pt (bf16 matrices with --bf16), and generate --model <recipe> uses it offline', async () => {
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const { stdout } = await cli('pull', 'dit-xl-2-skip', '--convert');
      const pt = (await pull('dit-xl-2-skip', hubOptions)).snapshots.model.files[0].local;
      expect(stdout).toContain(`converted: ${convertedPath(pt)}`);
      expect(stdout).toMatch(/next: skipdit generate --model dit-xl-2-skip/);
      const info = await inspectCheckpoint(convertedPath(pt));
      expect(info.format).toBe('safetensors');
      expect((await pull('dit-xl-2-skip', hubOptions)).parts.model).toBe(convertedPath(pt));
      // bf16: matrices halve, vectors stay float32
      const bf16 = await pull('dit-xl-2-skip', { ...hubOptions, convert: 'bfloat16' });
      expect(bf16.converted).toEqual([convertedPath(pt, 'bfloat16')]);
      const t = (await inspectCheckpoint(convertedPath(pt, 'bfloat16'))).tensors;
      expect([t['blocks.0.attn.qkv.weight'].dtype, t['blocks.0.attn.qkv.bias'].dtype, t['y_embedder.embedding_table.weight'].dtype]).toEqual(['BF16', 'F32', 'F32']);
      // generate offline from the cache: no request reaches the Hub
      hub.log.length = 0;
      process.env.HF_HUB_OFFLINE = '1';
      const out = path.join(root, 'dit.png');
      await cli('generate', '--model', 'dit-xl-2-skip', '--class', '1', '--steps', '2', '--out', out);
      expect(readFileSync(out).subarray(1, 4).toString()).toBe('PNG');
      expect(hub.log).toEqual([]);
      const list = await cli('pull', '--list');
      expect(list.stdout).toMatch(/dit-xl-2-skip\s+class-to-image\s+in the cache/);
      expect(list.stdout).toMatch(/ffs-skip\s+class-to-video\s+not downloaded/);
    } finally {
      for (const k of [...Object.keys(env), 'HF_HUB_OFFLINE']) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  });

  it('bf16 conversion: the same bits a bfloat16 load of the .pt gives', async () => {
    const pt = (await pull('dit-xl-2-skip', hubOptions)).snapshots.model.files[0].local;
    const a = await loadModel(pt, { backend: 'cpu', dtype: 'bfloat16' });
    const b = await loadModel(convertedPath(pt, 'bfloat16'), { backend: 'cpu', dtype: 'bfloat16' });
    const c = a.config;
    const x = new Float32Array(2 * c.in_channels * c.input_size ** 2).map((_, i) => Math.sin(i));
    const input = { x: { data: x, shape: [2, c.in_channels, c.input_size, c.input_size] }, t: new Float32Array([10, 500]), y: new Int32Array([1, 3]) };
    const ya = await a.forward(input);
    const yb = await b.forward(input);
    expect(Buffer.from(yb.data.buffer).equals(Buffer.from(ya.data.buffer))).toBe(true);
    a.dispose();
    b.dispose();
  });

  it('existsSync sanity: the cache holds no stray temporary files', () => {
    const blobs = path.join(cacheDir, 'models--GuanjieChen--Skip-DiT', 'blobs');
    expect(readdirSync(blobs).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
    expect(existsSync(path.join(cacheDir, 'models--GuanjieChen--Skip-DiT', 'refs', 'main'))).toBe(true);
  });
});
