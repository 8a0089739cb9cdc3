// Downloads from a Hub-like server on 127.0.0.1 (test/helpers/fake-hub.ts): the cache layout, cache hits,
// resuming, checksums, auth and not-found errors, offline mode, revision pins, concurrent pulls, a full disk.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeHub, commitSha, gitSha1, sha256 } from './helpers/fake-hub.js';
import {
  AbortError, HubAuthError, HubIntegrityError, HubNetworkError, HubNotFoundError, HubOfflineError, HubStorageError, InvalidArgumentError,
} from '../dist/lib/index.js';
import { downloadSnapshot, parseHfUri, resolveHfUri, selectFolderFiles } from '../dist/lib/hub/index.js';

const bytes = (n: number, seed: number) => {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

const BIG = bytes(3 << 20, 1); // 3 MiB, LFS
const SMALL = Buffer.from('{"hidden_size": 8}\n'); // small: a git blob
const REPO = 'org/model';

let hub: FakeHub;
let cacheDir: string;
let commit: string;
const opts = () => ({ endpoint: hub.url, cacheDir, token: false as const, retries: 2, stallTimeoutMs: 5000 });

beforeAll(async () => {
  hub = await new FakeHub().start();
  commit = hub.addRepo(REPO, { 'weights.pt': BIG, 'config.json': SMALL, 'sub/dir/deep.json': Buffer.from('{}') });
});
afterAll(() => hub.close());
beforeEach(() => {
  cacheDir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-hub-'));
  hub.log.length = 0;
  hub.bytesServed.clear();
  hub.faults = {};
});
afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

const repoDir = () => path.join(cacheDir, 'models--org--model');

describe('fresh download into the huggingface_hub cache layout', () => {
  it('writes blobs by sha256 / git sha1, relative snapshot links and refs/main', async () => {
    const snap = await downloadSnapshot({ repo: REPO, files: ['weights.pt', 'config.json', 'sub/dir/deep.json'] }, opts());
    expect(snap.commit).toBe(commit);
    expect(snap.dir).toBe(path.join(repoDir(), 'snapshots', commit));
    expect(readFileSync(path.join(repoDir(), 'refs', 'main'), 'utf8')).toBe(commit); // no newline, as Python writes it
    expect(readdirSync(path.join(repoDir(), 'blobs')).sort()).toEqual([sha256(BIG), gitSha1(SMALL), gitSha1(Buffer.from('{}'))].sort());
    const link = path.join(snap.dir, 'weights.pt');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(`../../blobs/${sha256(BIG)}`);
    expect(readlinkSync(path.join(snap.dir, 'sub/dir/deep.json'))).toBe(`../../../../blobs/${gitSha1(Buffer.from('{}'))}`);
    expect(readFileSync(link).equals(BIG)).toBe(true);
    expect(snap.files.map((f) => [f.path, f.from, f.size])).toEqual([['weights.pt', 'download', BIG.length], ['config.json', 'download', SMALL.length], ['sub/dir/deep.json', 'download', 2]]);
    expect(hub.bytesServed.get(sha256(BIG))).toBe(BIG.length);
    // No temporary or lock file is left.
    expect(readdirSync(path.join(repoDir(), 'blobs')).some((f) => f.endsWith('.incomplete'))).toBe(false);
    expect(readdirSync(path.join(cacheDir, '.locks', 'models--org--model'))).toEqual([]);
  });

  it('sends the token to the Hub but never to the CDN it redirects to', async () => {
    hub.addRepo('org/gated', { 'w.bin': BIG }, { gated: true });
    const snap = await downloadSnapshot({ repo: 'org/gated', files: ['w.bin'] }, { ...opts(), token: 'hf_good' });
    expect(readFileSync(path.join(snap.dir, 'w.bin')).equals(BIG)).toBe(true);
    expect(hub.log.filter((r) => r.server === 'hub').every((r) => r.authorization === 'Bearer hf_good')).toBe(true);
    expect(hub.log.filter((r) => r.server === 'cdn').map((r) => r.authorization)).toEqual([undefined]);
  });

  it('reads HF_ENDPOINT, HF_HUB_CACHE and HF_TOKEN from the environment', async () => {
    hub.addRepo('org/private-env', { 'a.json': SMALL }, { private: true });
    const saved = { ...process.env };
    Object.assign(process.env, { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cacheDir, HF_TOKEN: 'hf_good' });
    try {
      const snap = await downloadSnapshot({ repo: 'org/private-env', files: ['a.json'] });
      expect(snap.dir.startsWith(cacheDir)).toBe(true);
    } finally {
      for (const k of ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_TOKEN']) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  });

  it('lists a folder through the paginated tree API and takes one weight format', async () => {
    hub.addRepo('org/vae', {
      'config.json': SMALL, 'diffusion_pytorch_model.safetensors': bytes(4096, 2), 'diffusion_pytorch_model.bin': bytes(4096, 3),
      'README.md': Buffer.from('# vae'), 'flax_model.msgpack': bytes(2048, 4), 'sub/x.json': SMALL,
    });
    hub.faults.pageSize = 2;
    const snap = await downloadSnapshot({ repo: 'org/vae', folders: [{ folder: '', weights: true }] }, opts());
    expect(snap.files.map((f) => f.path)).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
    expect(hub.log.filter((r) => r.url.includes('/tree/')).length).toBe(3); // 6 entries at the top (sub/ is one), 2 a page
  });
});

describe('selectFolderFiles', () => {
  it('prefers safetensors (with its index), then .bin, then .pt; keeps configs and tokenizer files', () => {
    expect(selectFolderFiles(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin',
      'pytorch_model.bin.index.json', 'config.json', 'spiece.model', 'tf_model.h5', 'README.md'], true))
      .toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'spiece.model']);
    expect(selectFolderFiles(['pytorch_model.bin', 'config.json', 'flax_model.msgpack'], true)).toEqual(['config.json', 'pytorch_model.bin']);
    expect(selectFolderFiles(['vocab.txt', 'tokenizer_config.json', 'pytorch_model.bin'], false)).toEqual(['tokenizer_config.json', 'vocab.txt']);
  });
});

describe('cache hits', () => {
  it('asks the Hub only for the commit of a branch, and nothing for a pinned commit', async () => {
    await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    hub.log.length = 0;
    const again = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    expect(again.files[0].from).toBe('cache');
    expect(hub.log.map((r) => r.url.split('?')[0])).toEqual([`/api/models/${REPO}/revision/main`]);
    hub.log.length = 0;
    const pinned = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, { ...opts(), revision: commit });
    expect(pinned.files[0].local).toBe(again.files[0].local);
    expect(hub.log).toEqual([]);
  });

  it('links a blob another commit already holds instead of downloading it', async () => {
    hub.addRepo('org/two', { 'w.pt': BIG }, { commit: commitSha(101) });
    await downloadSnapshot({ repo: 'org/two', files: ['w.pt'] }, opts());
    hub.addCommit('org/two', { 'w.pt': BIG, 'new.json': SMALL }, commitSha(102));
    hub.bytesServed.clear();
    const snap = await downloadSnapshot({ repo: 'org/two', files: ['w.pt'] }, opts());
    expect(snap.commit).toBe(commitSha(102));
    expect(snap.files[0].from).toBe('blob');
    expect(hub.bytesServed.size).toBe(0);
  });
});

describe('resuming', () => {
  it('a partial file next to a whole blob (another tool fetched it) is deleted on the next pull', async () => {
    await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    const partial = path.join(repoDir(), 'blobs', `${sha256(BIG)}.incomplete`);
    writeFileSync(partial, BIG.subarray(0, 1000));
    const again = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    expect(again.files[0].from).toBe('cache');
    expect(existsSync(partial)).toBe(false);
  });

  it('a partial file longer than the file starts over; one of the right length is checked, not fetched', async () => {
    mkdirSync(path.join(repoDir(), 'blobs'), { recursive: true });
    const partial = path.join(repoDir(), 'blobs', `${sha256(BIG)}.incomplete`);
    writeFileSync(partial, Buffer.concat([BIG, Buffer.from('junk')]));
    const a = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    expect([a.files[0].from, hub.bytesServed.get(sha256(BIG))]).toEqual(['download', BIG.length]);
    rmSync(repoDir(), { recursive: true });
    mkdirSync(path.join(repoDir(), 'blobs'), { recursive: true });
    writeFileSync(partial, BIG);
    hub.bytesServed.clear();
    const b = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    expect([b.files[0].from, hub.bytesServed.get(sha256(BIG)) ?? 0]).toEqual(['resume', 0]);
    expect(readFileSync(b.files[0].local).equals(BIG)).toBe(true);
  });

  it('resumes with a Range request when the connection drops mid-file (about 1x the bytes)', async () => {
    hub.faults.dropAt = new Map([[sha256(BIG), 1_000_000]]);
    const events: number[] = [];
    const snap = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, { ...opts(), onProgress: (e) => events.push(e.completed) });
    expect(readFileSync(path.join(snap.dir, 'weights.pt')).equals(BIG)).toBe(true);
    const cdn = hub.log.filter((r) => r.server === 'cdn');
    expect(cdn.map((r) => [r.status, r.range])).toEqual([[200, undefined], [206, 'bytes=1000000-']]);
    expect(hub.bytesServed.get(sha256(BIG))).toBe(BIG.length);
    expect(events.at(-1)).toBe(BIG.length);
  });

  it('resumes from blobs/<etag>.incomplete left by a killed process', async () => {
    hub.faults.bytesPerSecond = 2 << 20; // 1.5 s for the file
    const child = spawn(process.execPath, ['-e', `
      import('${path.resolve('dist/lib/hub/index.js')}').then((h) => h.downloadSnapshot({ repo: '${REPO}', files: ['weights.pt'] },
        { endpoint: '${hub.url}', cacheDir: '${cacheDir}', token: false }));`], { stdio: 'ignore' });
    const partial = path.join(repoDir(), 'blobs', `${sha256(BIG)}.incomplete`);
    for (let i = 0; i < 200 && !(existsSync(partial) && statSync(partial).size >= BIG.length / 2); i++) await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(BIG.length);
    expect(existsSync(path.join(repoDir(), 'snapshots', commit, 'weights.pt'))).toBe(false); // nothing looks complete
    hub.faults.bytesPerSecond = 0;
    hub.log.length = 0;
    const sentBefore = hub.bytesServed.get(sha256(BIG))!;
    const snap = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts()); // takes over the dead process's lock
    expect(snap.files[0].from).toBe('resume');
    expect(readFileSync(path.join(snap.dir, 'weights.pt')).equals(BIG)).toBe(true);
    expect(hub.log.filter((r) => r.server === 'cdn').map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    expect(hub.bytesServed.get(sha256(BIG))! - sentBefore).toBe(BIG.length - kept);
  });

  it('stops at an AbortSignal and resumes later', async () => {
    hub.faults.bytesPerSecond = 4 << 20;
    const controller = new AbortController();
    const run = downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, { ...opts(), signal: controller.signal, onProgress: (e) => e.completed > 1 << 20 && controller.abort() });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    hub.faults.bytesPerSecond = 0;
    const snap = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    expect(snap.files[0].from).toBe('resume');
    expect(readFileSync(path.join(snap.dir, 'weights.pt')).equals(BIG)).toBe(true);
  });
});

describe('failures leave nothing that looks complete', () => {
  it('a checksum mismatch deletes the download (HubIntegrityError)', async () => {
    hub.faults.corrupt = new Set([sha256(BIG)]);
    const err = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts()).catch((e) => e);
    expect(err).toBeInstanceOf(HubIntegrityError);
    expect(err.message).toMatch(/sha256 is [0-9a-f]{64}, the Hub reports/);
    expect(readdirSync(path.join(repoDir(), 'blobs'))).toEqual([]);
    expect(existsSync(path.join(repoDir(), 'snapshots', commit, 'weights.pt'))).toBe(false);
  });

  it('401 on a gated repository without a token, 403 with a token that has no access (HubAuthError)', async () => {
    hub.addRepo('org/gated2', { 'w.bin': BIG }, { gated: true });
    const e401 = await downloadSnapshot({ repo: 'org/gated2', files: ['w.bin'] }, opts()).catch((e) => e);
    expect(e401).toBeInstanceOf(HubAuthError);
    expect([e401.status, e401.repo, e401.code]).toEqual([401, 'org/gated2', 'SKIPDIT_HUB_AUTH']);
    expect(e401.message).toMatch(/gated.*HF_TOKEN/);
    const e403 = await downloadSnapshot({ repo: 'org/gated2', files: ['w.bin'] }, { ...opts(), token: 'hf_other' }).catch((e) => e);
    expect(e403).toBeInstanceOf(HubAuthError);
    expect(e403.status).toBe(403);
  });

  it('404s name what is missing: repo, revision or file (HubNotFoundError)', async () => {
    const repo = await downloadSnapshot({ repo: 'org/nothing', files: ['a'] }, opts()).catch((e) => e);
    expect([repo.constructor, repo.missing, repo.status]).toEqual([HubNotFoundError, 'repo', 401]);
    expect(repo.message).toMatch(/private or gated, set HF_TOKEN/);
    const rev = await downloadSnapshot({ repo: REPO, files: ['a'] }, { ...opts(), revision: 'v9' }).catch((e) => e);
    expect([rev.constructor, rev.missing, rev.status]).toEqual([HubNotFoundError, 'revision', 404]);
    const file = await downloadSnapshot({ repo: REPO, files: ['nope.pt', 'weights.pt'] }, opts()).catch((e) => e);
    expect([file.constructor, file.missing, file.file]).toEqual([HubNotFoundError, 'file', 'nope.pt']);
    expect(existsSync(path.join(repoDir(), 'refs'))).toBe(false);
  });

  it('a full disk is a HubStorageError, before the transfer when the size cannot fit', async () => {
    // ENOSPC mid-write: the partial file is a link to /dev/full.
    mkdirSync(path.join(repoDir(), 'blobs'), { recursive: true });
    symlinkSync('/dev/full', path.join(repoDir(), 'blobs', `${sha256(BIG)}.incomplete`));
    const err = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts()).catch((e) => e);
    expect(err).toBeInstanceOf(HubStorageError);
    expect(err.message).toMatch(/no space left, ENOSPC/);
    expect(existsSync(path.join(repoDir(), 'blobs', sha256(BIG)))).toBe(false);
    expect(existsSync(path.join(repoDir(), 'snapshots', commit, 'weights.pt'))).toBe(false);
    // A file larger than the free space is refused before a byte is fetched.
    hub.addRepo('org/huge', { 'w.bin': { data: BIG, reportedSize: 2 ** 52 } });
    hub.log.length = 0;
    const huge = await downloadSnapshot({ repo: 'org/huge', files: ['w.bin'] }, opts()).catch((e) => e);
    expect(huge).toBeInstanceOf(HubStorageError);
    expect(huge.message).toMatch(/Not enough space/);
    expect(hub.log.filter((r) => r.server === 'cdn')).toEqual([]);
  });

  it('a server that is down: HubNetworkError, or the cached files', async () => {
    hub.faults.down = true;
    const err = await downloadSnapshot({ repo: REPO, files: ['config.json'] }, opts()).catch((e) => e);
    expect(err).toBeInstanceOf(HubNetworkError);
    hub.faults.down = false;
    await downloadSnapshot({ repo: REPO, files: ['config.json'] }, opts());
    hub.faults.down = true;
    const snap = await downloadSnapshot({ repo: REPO, files: ['config.json'] }, opts());
    expect(snap.offline).toMatch(/unreachable/);
    expect(readFileSync(path.join(snap.dir, 'config.json')).equals(SMALL)).toBe(true);
  });

  it('an abort during the retry backoff stops at once with AbortError', async () => {
    hub.faults.dropAlways = new Map([[sha256(BIG), 0]]); // every attempt gets nothing: backoffs of 250, 500, 1000 ms...
    const t0 = performance.now();
    const err = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, { ...opts(), retries: 5, signal: AbortSignal.timeout(400) }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(performance.now() - t0).toBeLessThan(2000); // not the 7.75 s of the five backoffs
  });

  it('a transfer that keeps failing keeps its partial file and says how far it got', async () => {
    hub.faults.dropAlways = new Map([[sha256(BIG), 0]]); // every attempt gets nothing: the retries run out
    const err = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, { ...opts(), retries: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(HubNetworkError);
    expect(err.message).toMatch(/after 1 retries/);
    expect(hub.log.filter((r) => r.server === 'cdn').length).toBe(2);
  });
});

describe('an endpoint that is not the Hub', () => {
  const serve = async (handler: http.RequestListener) => {
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
  };

  it('HTML for every request: HubNetworkError naming the endpoint', async () => {
    const s = await serve((req, res) => res.end('<html>hello</html>'));
    try {
      const err = await downloadSnapshot({ repo: REPO, files: ['a.json'] }, { ...opts(), endpoint: s.url }).catch((e) => e);
      expect(err).toBeInstanceOf(HubNetworkError);
      expect(err.message).toMatch(/is not the Hub's API/);
    } finally {
      await s.close();
    }
  });

  it('a listing that never ends, and file names that leave the folder, are refused', async () => {
    let page = 0;
    const s = await serve((req, res) => {
      if (req.url!.includes('/revision/')) return res.end(JSON.stringify({ _id: 'x', id: REPO, sha: commitSha(9) }));
      res.setHeader('content-type', 'application/json');
      if (req.url!.includes('/tree/')) {
        res.setHeader('link', `<http://${req.headers.host}/api/models/${REPO}/tree/x?cursor=${++page}>; rel="next"`);
        return res.end(JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ type: 'file', path: `f${page}-${i}.json`, size: 1, oid: 'a'.repeat(40) }))));
      }
      res.end(JSON.stringify([{ type: 'file', path: '../../escape.json', size: 2, oid: 'b'.repeat(40) }]));
    });
    try {
      const endless = await downloadSnapshot({ repo: REPO, folders: [{ folder: '', weights: false }] }, { ...opts(), endpoint: s.url }).catch((e) => e);
      expect(endless).toBeInstanceOf(HubNetworkError);
      expect(endless.message).toMatch(/over 50000 entries/);
      const escape = await downloadSnapshot({ repo: REPO, files: ['../../escape.json'] }, { ...opts(), endpoint: s.url }).catch((e) => e);
      expect(escape).toBeInstanceOf(InvalidArgumentError); // refused before any request
      expect(readdirSync(cacheDir)).toEqual([]);
    } finally {
      await s.close();
    }
  });
});

describe('offline', () => {
  it('uses the cache with HF_HUB_OFFLINE=1 and fails with HubOfflineError when a file is missing', async () => {
    await expect(downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, { ...opts(), offline: true })).rejects.toBeInstanceOf(HubOfflineError);
    const online = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
    hub.log.length = 0;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const offline = await downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts());
      expect(offline.files[0].local).toBe(online.files[0].local);
      expect(offline.offline).toMatch(/offline mode/);
      const missing = await downloadSnapshot({ repo: REPO, files: ['config.json'] }, opts()).catch((e) => e);
      expect(missing).toBeInstanceOf(HubOfflineError);
      expect(missing.message).toMatch(/is not complete in the cache/);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    expect(hub.log).toEqual([]);
  });

  it('reads a cache written by Python (refs, relative links into blobs)', async () => {
    const c = commitSha(77);
    const dir = path.join(repoDir(), 'snapshots', c, 'vae');
    mkdirSync(dir, { recursive: true });
    mkdirSync(path.join(repoDir(), 'blobs'));
    mkdirSync(path.join(repoDir(), 'refs'));
    writeFileSync(path.join(repoDir(), 'refs', 'main'), c);
    writeFileSync(path.join(repoDir(), 'blobs', 'aa'.repeat(32)), BIG);
    writeFileSync(path.join(repoDir(), 'blobs', 'bb'.repeat(20)), SMALL);
    symlinkSync(`../../../blobs/${'aa'.repeat(32)}`, path.join(dir, 'diffusion_pytorch_model.safetensors'));
    symlinkSync(`../../../blobs/${'bb'.repeat(20)}`, path.join(dir, 'config.json'));
    const { local } = await resolveHfUri(`hf://${REPO}/vae`, { weights: true }, { ...opts(), offline: true });
    expect(local).toBe(dir);
  });
});

describe('revisions', () => {
  it('a pinned commit gets its own files while main has moved on; refs/main follows main', async () => {
    const old = commitSha(201);
    hub.addRepo('org/moving', { 'w.pt': BIG }, { commit: old });
    const newer = bytes(2 << 20, 9);
    hub.addCommit('org/moving', { 'w.pt': newer }, commitSha(202));
    const pinned = await downloadSnapshot({ repo: 'org/moving', files: ['w.pt'] }, { ...opts(), revision: old });
    expect(readFileSync(pinned.files[0].local).equals(BIG)).toBe(true);
    expect(existsSync(path.join(cacheDir, 'models--org--moving', 'refs'))).toBe(false);
    const main = await downloadSnapshot({ repo: 'org/moving', files: ['w.pt'] }, opts());
    expect(main.commit).toBe(commitSha(202));
    expect(readFileSync(main.files[0].local).equals(newer)).toBe(true);
    expect(readFileSync(path.join(cacheDir, 'models--org--moving', 'refs', 'main'), 'utf8')).toBe(commitSha(202));
    hub.addCommit('org/moving', { 'w.pt': newer }, commitSha(203), 'v1.0');
    const tag = await downloadSnapshot({ repo: 'org/moving', files: ['w.pt'] }, { ...opts(), revision: 'v1.0' });
    expect(tag.commit).toBe(commitSha(203));
    expect(readFileSync(path.join(cacheDir, 'models--org--moving', 'refs', 'v1.0'), 'utf8')).toBe(commitSha(203));
  });
});

describe('two pulls of the same file at once', () => {
  it('in one process: one transfer, both get the file', async () => {
    hub.faults.bytesPerSecond = 8 << 20;
    const [a, b] = await Promise.all([0, 1].map(() => downloadSnapshot({ repo: REPO, files: ['weights.pt'] }, opts())));
    expect(a.files[0].local).toBe(b.files[0].local);
    expect(readFileSync(a.files[0].local).equals(BIG)).toBe(true);
    expect(hub.bytesServed.get(sha256(BIG))).toBe(BIG.length);
  });

  it('in two processes: one waits on the other\'s lock and links its blob', async () => {
    hub.faults.bytesPerSecond = 4 << 20;
    const pull = () => new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', `
        import('${path.resolve('dist/lib/hub/index.js')}').then((h) => h.downloadSnapshot({ repo: '${REPO}', files: ['weights.pt'] },
          { endpoint: '${hub.url}', cacheDir: '${cacheDir}', token: false })).then((s) => console.log(s.files[0].from), (e) => { console.error(e); process.exit(1); });`]);
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}`))));
    });
    const froms = await Promise.all([pull(), pull()]);
    expect(froms.sort()).toEqual(['blob', 'download']);
    expect(hub.bytesServed.get(sha256(BIG))).toBe(BIG.length);
    expect(readFileSync(path.join(repoDir(), 'snapshots', commit, 'weights.pt')).equals(BIG)).toBe(true);
  });
});

describe('hf:// paths', () => {
  it('parses org/name, @revision and a path', () => {
    expect(parseHfUri('hf://GuanjieChen/Skip-DiT/DiT-XL-2-skip.pt')).toEqual({ repo: 'GuanjieChen/Skip-DiT', revision: undefined, path: 'DiT-XL-2-skip.pt' });
    expect(parseHfUri('hf://stabilityai/sd-vae-ft-ema')).toEqual({ repo: 'stabilityai/sd-vae-ft-ema', revision: undefined, path: '' });
    expect(parseHfUri('hf://a/b@refs%2Fpr%2F1/t2i/model/')).toEqual({ repo: 'a/b', revision: 'refs/pr/1', path: 't2i/model' });
    for (const bad of ['hf://onlyname', 'hf://a/b/../../etc/passwd', 'hf://a--b/c/x', 'hf://a/b//x']) expect(() => parseHfUri(bad)).toThrow(InvalidArgumentError);
  });

  it('a file, a folder (its weights in one format), the root', async () => {
    hub.addRepo('org/tree', { 'x/config.json': SMALL, 'x/model.safetensors': bytes(2048, 5), 'x/pytorch_model.bin': bytes(2048, 6), 'top.pt': bytes(1500, 7) });
    const file = await resolveHfUri('hf://org/tree/top.pt', { weights: true }, opts());
    expect(readFileSync(file.local).equals(bytes(1500, 7))).toBe(true);
    const folder = await resolveHfUri('hf://org/tree/x', { weights: true }, opts());
    expect(readdirSync(folder.local).sort()).toEqual(['config.json', 'model.safetensors']);
    await expect(resolveHfUri('hf://org/tree', { weights: true }, opts())).resolves.toMatchObject({ local: path.join(cacheDir, 'models--org--tree', 'snapshots', commitSha(hub.repos.size)) });
    // the Hub down: the cached folder still loads (the file attempt fails unreachable, then the folder comes from the cache)
    hub.faults.down = true;
    const cachedFolder = await resolveHfUri('hf://org/tree/x', { weights: true }, opts());
    expect(cachedFolder.local).toBe(folder.local);
    expect(cachedFolder.snapshot.offline).toMatch(/unreachable/);
    const missing = await resolveHfUri('hf://org/tree/nothing', { weights: true }, opts()).catch((e) => e);
    expect(missing).toBeInstanceOf(HubNetworkError);
    hub.faults.down = false;
  });
});
