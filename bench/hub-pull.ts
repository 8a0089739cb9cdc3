// Downloads against a Hub-like server on 127.0.0.1 (test/helpers/fake-hub.ts), one large LFS file:
//   1. throughput of a fresh pull (skipdit: Range-capable streaming + sha256 + cache layout) against curl on the
//      same URL (no checksum, no cache) and, when a Python with huggingface_hub is given, hf_hub_download;
//   2. a pull interrupted at 50% (AbortSignal in this process; SIGKILL of a child process) and resumed: the bytes the
//      server sent in all, as a multiple of the file (1.0x = nothing fetched twice).
// Usage: npm run bench:hub -- [--mb 200] [--repeats 3] [--python /path/to/python-with-huggingface_hub]
import { execFile, spawn } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeHub, sha256 } from '../test/helpers/fake-hub.js';
import { median } from '../lib/bench.js';
import { downloadSnapshot } from '../lib/hub/index.js';

const { values: args } = parseArgs({ options: { mb: { type: 'string', default: '200' }, repeats: { type: 'string', default: '3' }, python: { type: 'string' } } });
const MB = Number(args.mb);
const repeats = Number(args.repeats);
const python = args.python;
// The server runs in this process: the other clients must run asynchronously.
const run = promisify(execFile);

const hub = await new FakeHub().start();
const data = randomBytes(MB * 1_000_000);
const sha = sha256(data);
const repo = 'bench/big';
const commit = hub.addRepo(repo, { 'model.safetensors': data });
const root = mkdtempSync(path.join(os.tmpdir(), 'skipdit-hub-bench-'));
const fresh = (name: string) => {
  const dir = path.join(root, name);
  rmSync(dir, { recursive: true, force: true });
  return dir;
};
const hubModule = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../lib/hub/index.js');
const opts = (cacheDir: string) => ({ endpoint: hub.url, cacheDir, token: false as const });
const served = () => hub.bytesServed.get(sha) ?? 0;
console.log(`file: ${MB} MB (LFS, redirected to the CDN server), ${os.cpus().length} cores, node ${process.version}`);

// 1. Throughput.
const times: Record<string, number[]> = { skipdit: [], curl: [], 'curl | sha256sum': [] };
if (python) times.huggingface_hub = [];
for (let r = 0; r < repeats; r++) {
  // Each client is its own process (started inside the timing), as curl and Python are, so that none shares
  // this process's event loop with the server.
  let t = performance.now();
  await run(process.execPath, ['-e', `import('${hubModule}').then((h) => h.downloadSnapshot({ repo: '${repo}', files: ['model.safetensors'] }, ` +
    `{ endpoint: '${hub.url}', cacheDir: '${fresh('skipdit')}', token: false }))`]);
  times.skipdit.push(performance.now() - t);
  const out = path.join(root, 'curl.bin');
  t = performance.now();
  await run('curl', ['-sfL', '-o', out, `${hub.url}/${repo}/resolve/main/model.safetensors`]);
  times.curl.push(performance.now() - t);
  if (statSync(out).size !== data.length) throw new Error('curl got a short file');
  rmSync(out);
  // curl with the checksum skipdit and huggingface_hub compute
  t = performance.now();
  const { stdout } = await run('bash', ['-c', `curl -sfL '${hub.url}/${repo}/resolve/main/model.safetensors' | tee '${out}' | sha256sum`]);
  times['curl | sha256sum'].push(performance.now() - t);
  if (!stdout.startsWith(sha)) throw new Error('curl | sha256sum: wrong checksum');
  rmSync(out);
  if (python) {
    const cache = fresh('python');
    t = performance.now();
    await run(python, ['-c', `from huggingface_hub import hf_hub_download; hf_hub_download('${repo}', 'model.safetensors', cache_dir='${cache}')`],
      { env: { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1' } });
    times.huggingface_hub.push(performance.now() - t);
  }
}
console.log('\nfresh download (median of %d):', repeats);
for (const [name, ts] of Object.entries(times)) {
  const ms = median(ts);
  console.log(`  ${name.padEnd(18)} ${(ms / 1000).toFixed(3)} s  ${((data.length / 1e6) / (ms / 1000)).toFixed(0)} MB/s  (${(median(times.curl) / ms).toFixed(2)}x curl's rate)`);
}
console.log('  (each a new process, start-up included; skipdit and huggingface_hub also hash every byte with sha256 and write the cache layout, curl only writes the file)');

// 2a. Interrupted at 50% by an AbortSignal, resumed by a second call.
{
  const cacheDir = fresh('abort');
  const before = served();
  const controller = new AbortController();
  await downloadSnapshot({ repo, files: ['model.safetensors'] }, {
    ...opts(cacheDir), signal: controller.signal, onProgress: (e) => e.completed >= data.length / 2 && controller.abort(),
  }).catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
  const partial = statSync(path.join(cacheDir, 'models--bench--big', 'blobs', `${sha}.incomplete`)).size;
  const t = performance.now();
  const snap = await downloadSnapshot({ repo, files: ['model.safetensors'] }, opts(cacheDir));
  const ms = performance.now() - t;
  console.log(`\naborted at ${(100 * partial / data.length).toFixed(1)}% (${partial} bytes kept), resumed (${snap.files[0].from}) in ${(ms / 1000).toFixed(3)} s: ` +
    `server sent ${((served() - before) / data.length).toFixed(3)}x the file in all`);
}

// 2b. A child process killed (SIGKILL) at 50%, a new pull resumes from its .incomplete (and takes over its lock).
{
  const cacheDir = fresh('kill');
  const before = served();
  hub.faults.bytesPerSecond = 100e6; // so that 50% can be caught by polling
  const child = spawn(process.execPath, ['-e', `import('${hubModule}')` +
    `.then((h) => h.downloadSnapshot({ repo: '${repo}', files: ['model.safetensors'] }, { endpoint: '${hub.url}', cacheDir: '${cacheDir}', token: false }))`], { stdio: 'inherit' });
  const partialPath = path.join(cacheDir, 'models--bench--big', 'blobs', `${sha}.incomplete`);
  while (!(existsSync(partialPath) && statSync(partialPath).size >= data.length / 2)) await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  hub.faults.bytesPerSecond = 0;
  const partial = statSync(partialPath).size;
  const t = performance.now();
  const snap = await downloadSnapshot({ repo, files: ['model.safetensors'] }, opts(cacheDir));
  const ms = performance.now() - t;
  const ranges = hub.log.filter((l) => l.server === 'cdn').slice(-1)[0].range;
  console.log(`killed at ${(100 * partial / data.length).toFixed(1)}% (${partial} bytes on disk), resumed (${snap.files[0].from}, request '${ranges}') in ${(ms / 1000).toFixed(3)} s: ` +
    `server sent ${((served() - before) / data.length).toFixed(3)}x the file in all (the bytes sent but not yet written when the process died are fetched again)`);
  if (snap.commit !== commit) throw new Error('wrong commit');
}

await hub.close();
rmSync(root, { recursive: true, force: true });
