// One cache for Python and Node: Python's huggingface_hub and skipdit against the same Hub-like server on
// 127.0.0.1 (test/helpers/fake-hub.ts) and the same cache folder, each reading what the other wrote:
//   1. Python downloads (snapshot_download) -> skipdit finds every file offline, and online transfers nothing;
//   2. skipdit downloads -> Python's hf_hub_download(local_files_only=True) returns the same paths and
//      scan_cache_dir() sees the repository whole, without warnings;
//   3. skipdit is interrupted half way, Python (1.x never resumes another process's partial file) downloads the
//      file, skipdit then uses Python's blob and removes its own stale partial file.
// Needs a Python with huggingface_hub: node dist/bench/hub-interop.js --python /path/to/python
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FakeHub, sha256 } from '../test/helpers/fake-hub.js';
import { downloadSnapshot } from '../lib/hub/index.js';

const run = promisify(execFile);
const i = process.argv.indexOf('--python');
const python = i > 0 ? process.argv[i + 1] : undefined;
if (!python) throw new Error('usage: node dist/bench/hub-interop.js --python /path/to/python-with-huggingface_hub');

const hub = await new FakeHub().start();
const big = randomBytes(24_000_000);
const files = { 'config.json': Buffer.from('{"a": 1}\n'), 'vae/config.json': Buffer.from('{"b": 2}\n'), 'vae/diffusion_pytorch_model.safetensors': randomBytes(3_000_000), 'model.pt': big };
const repo = 'interop/model';
const commit = hub.addRepo(repo, files);
const root = mkdtempSync(path.join(os.tmpdir(), 'skipdit-interop-'));
const env = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1' };
const py = async (code: string) => (await run(python, ['-c', code], { env })).stdout.trim();
const names = Object.keys(files);
const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) process.exitCode = 1;
};
console.log(`huggingface_hub ${await py('import huggingface_hub; print(huggingface_hub.__version__)')}, repo ${repo} @ ${commit}`);

// 1. Python writes, skipdit reads.
{
  const cache = path.join(root, 'python-first');
  const dir = await py(`from huggingface_hub import snapshot_download; print(snapshot_download('${repo}', cache_dir='${cache}'))`);
  hub.log.length = 0;
  const offline = await downloadSnapshot({ repo, files: names }, { endpoint: hub.url, cacheDir: cache, offline: true });
  check(offline.dir === dir && offline.files.every((f) => f.from === 'cache'), `Python's snapshot_download -> skipdit offline finds all ${names.length} files in ${dir}`);
  const online = await downloadSnapshot({ repo, files: names }, { endpoint: hub.url, cacheDir: cache });
  check(online.files.every((f) => f.from === 'cache') && hub.transfers().length === 0, `... and online it transfers nothing (requests: ${hub.log.map((l) => l.url.split('?')[0]).join(', ')})`);
}

// 2. skipdit writes, Python reads.
{
  const cache = path.join(root, 'skipdit-first');
  const snap = await downloadSnapshot({ repo, files: names }, { endpoint: hub.url, cacheDir: cache });
  hub.log.length = 0;
  const paths = JSON.parse(await py(`import json; from huggingface_hub import hf_hub_download
print(json.dumps([hf_hub_download('${repo}', f, cache_dir='${cache}', local_files_only=True) for f in ${JSON.stringify(names)}]))`)) as string[];
  check(JSON.stringify(paths) === JSON.stringify(snap.files.map((f) => f.local)) && hub.log.length === 0, "skipdit -> Python's hf_hub_download(local_files_only=True) returns the same snapshot paths, no request");
  const scan = await py(`from huggingface_hub import scan_cache_dir
s = scan_cache_dir('${cache}'); r = list(s.repos)[0]; rev = list(r.revisions)[0]
print(len(s.warnings), r.repo_id, r.nb_files, r.size_on_disk, rev.commit_hash, sorted(rev.refs))`);
  const expected = `0 ${repo} ${names.length} ${Object.values(files).reduce((a, b) => a + b.length, 0)} ${commit} ['main']`;
  check(scan === expected, `scan_cache_dir: ${scan} (expected ${expected})`);
}

// 3. skipdit interrupted, then Python. huggingface_hub 1.x downloads into a per-process <etag>.<uuid>.incomplete
// (its PR #4228) and never resumes another's partial file: it fetches the whole file and leaves ours alone; the next
// skipdit pull links Python's blob and deletes its own stale partial file.
{
  const cache = path.join(root, 'resume');
  const before = hub.bytesServed.get(sha256(big)) ?? 0;
  const controller = new AbortController();
  hub.faults.bytesPerSecond = 40e6; // 0.6 s for the file: progress reports (every 100 ms) can stop it half way
  await downloadSnapshot({ repo, files: ['model.pt'] }, { endpoint: hub.url, cacheDir: cache, signal: controller.signal, onProgress: (e) => e.completed > big.length / 2 && controller.abort() })
    .catch((err: Error) => { if (err.name !== 'AbortError') throw err; });
  hub.faults.bytesPerSecond = 0;
  const partialPath = path.join(cache, 'models--interop--model', 'blobs', `${sha256(big)}.incomplete`);
  const partial = statSync(partialPath).size;
  hub.log.length = 0;
  const pyPath = await py(`from huggingface_hub import hf_hub_download; print(hf_hub_download('${repo}', 'model.pt', cache_dir='${cache}'))`);
  const ranges = hub.log.filter((l) => l.server === 'cdn').map((l) => l.range ?? 'none');
  const sent = (hub.bytesServed.get(sha256(big)) ?? 0) - before;
  check(existsSync(partialPath), `skipdit stopped at ${partial} of ${big.length} bytes; Python fetched the whole file anyway (range: ${ranges.join(', ')}), ${(sent / big.length).toFixed(3)}x the file in all, and left skipdit's partial file`);
  hub.log.length = 0;
  const snap = await downloadSnapshot({ repo, files: ['model.pt'] }, { endpoint: hub.url, cacheDir: cache });
  check(snap.files[0].local === pyPath && snap.files[0].from === 'cache' && hub.transfers().length === 0 && !existsSync(partialPath),
    `skipdit then finds Python's file (${snap.files[0].from}), transfers nothing, and its stale partial file is gone`);
}

await hub.close();
rmSync(root, { recursive: true, force: true });
