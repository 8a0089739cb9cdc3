// Files of a Hub repository into the shared Hugging Face cache. @huggingface/hub does what it does well (the
// commit of a revision, paths-info, the paginated tree listing, the cache folder names); transfer.ts moves the
// bytes (resume, checksums); cache.ts keeps the layout Python's huggingface_hub reads.
import { existsSync } from 'node:fs';
import { readdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, modelInfo, pathsInfo, type ListFileEntry, type PathInfo } from '@huggingface/hub';
import { AbortError, HubNetworkError, HubNotFoundError, HubOfflineError, InvalidArgumentError, SkipditError } from '../errors.js';
import { COMMIT_RE, RepoCache, withBlobLock } from './cache.js';
import { hubSettings, type HubOptions, type HubSettings } from './settings.js';
import { hubHttpError, transferBlob, type RemoteFile } from './transfer.js';

/** A file to fetch: its path in the repository, or alternatives (the first the repository has is taken). */
export type FileRule = string | readonly string[];

/**
 * The files of one folder (not its subfolders) that a loader reads: configs and tokenizer files (.json, .txt,
 * .model) and the weights in one format, the first present of safetensors, then .bin, then .pt / .pth / .ckpt
 * (with its shard index). Other formats (TensorFlow, Flax, ONNX, ...), READMEs and pictures are left on the Hub.
 */
export interface FolderRule {
  folder: string;
  /** Whether the folder must hold weights (a model folder) or holds none (a tokenizer). */
  weights: boolean;
}

export interface SnapshotRequest {
  repo: string;
  files?: FileRule[];
  folders?: FolderRule[];
}

export interface SnapshotFile {
  /** Its path in the repository. */
  path: string;
  /** snapshots/<commit>/<path> in the cache (a link to its blob). */
  local: string;
  size: number;
  /** 'cache': was there; 'blob': its bytes were (another revision), only linked; 'download' / 'resume': fetched now. */
  from: 'cache' | 'blob' | 'download' | 'resume';
  /** Bytes received over the network by this call. */
  received: number;
}

export interface Snapshot {
  repo: string;
  revision: string;
  commit: string;
  /** snapshots/<commit>: the repository's folder as the files were selected. */
  dir: string;
  files: SnapshotFile[];
  /** Set when the Hub was not asked (offline, or unreachable with the files cached): why. */
  offline?: string;
}

const REPO_RE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function checkRepo(repo: unknown, name = 'repo'): asserts repo is string {
  if (typeof repo !== 'string' || !REPO_RE.test(repo) || repo.includes('--') || repo.includes('..') || repo.length > 96) {
    throw InvalidArgumentError.expected(name, "a Hub model repository 'org/name'", repo);
  }
}

/** A path inside a repository that cannot leave the cache folder (huggingface_hub's _validate_relative_filename). */
export function checkRepoPath(p: unknown, name = 'path'): asserts p is string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 1024 || p.startsWith('/') || p.includes('\\') || p.includes('\0') ||
    p.split('/').some((s) => s === '..' || s === '.' || s === '' || /^[a-zA-Z]:/.test(s))) {
    throw InvalidArgumentError.expected(name, 'a relative path inside the repository', p);
  }
}

const WEIGHT_FORMATS: { name: string; re: RegExp }[] = [
  { name: 'safetensors', re: /\.safetensors(\.index\.json)?$/ },
  { name: 'bin', re: /\.bin(\.index\.json)?$/ },
  { name: 'pt', re: /\.(pt|pth|ckpt)$/ },
];
/** Weights the loaders do not read: never fetched. */
const OTHER_WEIGHTS = /\.(h5|msgpack|onnx|onnx_data|gguf|ot|tflite|pb|mlmodel|ckpt\.index|npz)(\.index\.json)?$/;
const SMALL_FILES = /\.(json|txt|model)$/;

/** The names of `names` (files directly in a folder) that a FolderRule takes. */
export function selectFolderFiles(names: string[], weights: boolean): string[] {
  const format = weights ? WEIGHT_FORMATS.find((f) => names.some((n) => f.re.test(n) && !n.endsWith('.index.json'))) : undefined;
  return names.filter((n) => {
    if (WEIGHT_FORMATS.some((f) => f.re.test(n))) return format !== undefined && format.re.test(n);
    return SMALL_FILES.test(n) && !OTHER_WEIGHTS.test(n);
  }).sort();
}

const join = (folder: string, name: string) => (folder ? `${folder}/${name}` : name);
const hubRepo = (repo: string) => ({ type: 'model' as const, name: repo });

/** The most an API answer may hold: real ones are KBs (a listing page of 1000 entries ~ 300 KB). */
const MAX_API_BYTES = 32 << 20;
/** The most files a folder listing may hold (a hostile endpoint could paginate forever). */
const MAX_LISTED = 50_000;

/** fetch for the official client: the caller's signal, a time limit, bounded answers, and the Hub's errors typed. */
function apiFetch(settings: HubSettings, where: { repo: string; revision?: string; file?: string }, signal?: AbortSignal): typeof fetch {
  return async (input, init) => {
    const timeout = AbortSignal.timeout(settings.stallTimeoutMs);
    let res: Response;
    try {
      res = await fetch(input, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (err) {
      if (signal?.aborted) throw new AbortError();
      throw new HubNetworkError(`Cannot reach the Hub at ${settings.endpoint} (${timeout.aborted ? 'no answer' : ((err as Error).cause as Error)?.message ?? (err as Error).message})`, where, { cause: err });
    }
    if (!res.ok) throw await hubHttpError(res, where);
    let bytes = 0;
    const bounded = res.body?.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        if ((bytes += chunk.length) > MAX_API_BYTES) out.error(new HubNetworkError(`The answer of ${settings.endpoint} is over ${MAX_API_BYTES} bytes: not the Hub's API`, { ...where, status: res.status }));
        else out.enqueue(chunk);
      },
    }));
    return new Response(bounded, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** A call of the official client: an answer that is not the Hub's (HTML, other JSON) is a HubNetworkError, not a SyntaxError. */
async function hubCall<T>(settings: HubSettings, where: { repo: string; revision?: string; file?: string }, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SkipditError) throw err;
    throw new HubNetworkError(`The answer of ${settings.endpoint} for ${where.repo} is not the Hub's API (${(err as Error).message})`, { ...where, status: 200 }, { cause: err });
  }
}

function clientParams(settings: HubSettings, where: { repo: string; revision?: string; file?: string }, signal?: AbortSignal) {
  return { hubUrl: settings.endpoint, accessToken: settings.token, fetch: apiFetch(settings, where, signal) };
}

/** The commit `revision` points to on the Hub. */
async function remoteCommit(repo: string, revision: string, settings: HubSettings, signal?: AbortSignal): Promise<string> {
  if (COMMIT_RE.test(revision)) return revision;
  const info = await hubCall(settings, { repo, revision }, () => modelInfo({ name: repo, revision, additionalFields: ['sha'], ...clientParams(settings, { repo, revision }, signal) }));
  if (typeof info.sha !== 'string' || !COMMIT_RE.test(info.sha)) throw new HubNetworkError(`The Hub gave no commit for ${repo} at ${revision}`, { repo, revision });
  return info.sha;
}

/** Files of a FolderRule at `commit`, from the Hub's tree listing. */
async function listFolder(repo: string, commit: string, rule: FolderRule, settings: HubSettings, signal?: AbortSignal): Promise<RemoteFile[]> {
  const entries: ListFileEntry[] = [];
  const where = { repo, revision: commit, file: rule.folder };
  await hubCall(settings, where, async () => {
    let listed = 0;
    for await (const e of listFiles({ repo: hubRepo(repo), path: rule.folder || undefined, revision: commit, ...clientParams(settings, where, signal) })) {
      if (++listed > MAX_LISTED) throw new HubNetworkError(`${repo}/${rule.folder} lists over ${MAX_LISTED} entries: not a model folder`, where);
      if (typeof e === 'object' && e !== null && e.type === 'file' && typeof e.path === 'string') entries.push(e);
    }
  });
  const byName = new Map(entries.map((e) => [e.path.slice(rule.folder ? rule.folder.length + 1 : 0), e]));
  const picked = selectFolderFiles([...byName.keys()].filter((n) => !n.includes('/')), rule.weights);
  checkFolderPick(repo, rule, picked, commit);
  return picked.map((n) => remoteFile(repo, commit, byName.get(n)!));
}

function checkFolderPick(repo: string, rule: FolderRule, picked: string[], commit: string): void {
  if (picked.length === 0 || (rule.weights && !picked.some((n) => WEIGHT_FORMATS.some((f) => f.re.test(n) && !n.endsWith('.index.json'))))) {
    throw new HubNotFoundError(`${repo}${rule.folder ? `/${rule.folder}` : ''} at ${commit} holds no ${rule.weights ? 'weights (.safetensors, .bin, .pt)' : 'files'} that skipdit reads`,
      'file', { repo, file: rule.folder, revision: commit });
  }
}

function remoteFile(repo: string, commit: string, e: ListFileEntry | PathInfo): RemoteFile {
  const etag = e.lfs?.oid ?? e.oid;
  const size = e.lfs?.size ?? e.size;
  if (!etag || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag) || !Number.isSafeInteger(size) || size < 0) {
    throw new HubNetworkError(`The Hub gave no checksum or size for ${repo}/${e.path}`, { repo, file: e.path, revision: commit, status: 200 });
  }
  checkRepoPath(e.path, `the Hub's file name in ${repo}`);
  return { repo, commit, file: e.path, size, etag, lfs: e.lfs !== undefined };
}

/** The files the request names, as the Hub describes them at `commit`. */
async function remoteFiles(req: SnapshotRequest, commit: string, settings: HubSettings, signal?: AbortSignal): Promise<RemoteFile[]> {
  const out: RemoteFile[] = [];
  const rules = req.files ?? [];
  if (rules.length) {
    const asked = rules.flatMap((r) => (typeof r === 'string' ? [r] : [...r]));
    const infos = await hubCall(settings, { repo: req.repo, revision: commit },
      () => pathsInfo({ repo: hubRepo(req.repo), paths: asked, revision: commit, ...clientParams(settings, { repo: req.repo, revision: commit }, signal) }));
    const byPath = new Map(infos.filter((i) => i.type === 'file').map((i) => [i.path, i]));
    for (const rule of rules) {
      const options = typeof rule === 'string' ? [rule] : rule;
      const hit = options.find((p) => byPath.has(p));
      if (!hit) throw new HubNotFoundError(`${req.repo} at ${commit} has no file ${options.join(' or ')}`, 'file', { repo: req.repo, file: options[0], revision: commit });
      out.push(remoteFile(req.repo, commit, byPath.get(hit)!));
    }
  }
  for (const rule of req.folders ?? []) out.push(...(await listFolder(req.repo, commit, rule, settings, signal)));
  return out;
}

/** What the cache holds of the request at `commit`, without the Hub; undefined when something is missing. */
async function cachedFiles(cache: RepoCache, req: SnapshotRequest, commit: string): Promise<SnapshotFile[] | undefined> {
  const out: SnapshotFile[] = [];
  const add = async (p: string) => {
    const hit = await cache.cached(commit, p);
    if (hit) out.push({ path: p, local: hit.local, size: hit.size, from: 'cache', received: 0 });
    return hit !== undefined;
  };
  for (const rule of req.files ?? []) {
    let found = false;
    for (const p of typeof rule === 'string' ? [rule] : rule) if ((found = await add(p))) break;
    if (!found) return undefined;
  }
  for (const rule of req.folders ?? []) {
    const names = await readdir(cache.snapshot(commit, rule.folder)).catch(() => [] as string[]);
    const picked = selectFolderFiles(names, rule.weights);
    try {
      checkFolderPick(cache.repo, rule, picked, commit);
    } catch {
      return undefined;
    }
    for (const n of picked) if (!(await add(join(rule.folder, n)))) return undefined;
  }
  return out;
}

function checkRequest(req: SnapshotRequest): void {
  if (typeof req !== 'object' || req === null) throw InvalidArgumentError.expected('request', 'an object { repo, files?, folders? }', req);
  checkRepo(req.repo, 'request.repo');
  if (req.files !== undefined && !Array.isArray(req.files)) throw InvalidArgumentError.expected('request.files', 'an array of paths', req.files);
  (req.files ?? []).forEach((r, i) => (typeof r === 'string' ? [r] : Array.isArray(r) && r.length ? r : [undefined]).forEach((p) => checkRepoPath(p, `request.files[${i}]`)));
  if (req.folders !== undefined && !Array.isArray(req.folders)) throw InvalidArgumentError.expected('request.folders', 'an array of { folder, weights }', req.folders);
  (req.folders ?? []).forEach((r, i) => {
    if (typeof r !== 'object' || r === null || typeof r.weights !== 'boolean') throw InvalidArgumentError.expected(`request.folders[${i}]`, 'an object { folder, weights }', r);
    if (r.folder !== '') checkRepoPath(r.folder, `request.folders[${i}].folder`);
  });
  if (!req.files?.length && !req.folders?.length) throw InvalidArgumentError.expected('request', 'files or folders to fetch', req);
}

/**
 * Fetches the files of `req` at `options.revision` (default 'main') into the cache, skipping what is there, and
 * returns their snapshot paths. A branch or tag costs one request to learn its commit; a commit pin costs none
 * once cached. Offline, or with the Hub unreachable, the cached commit of the revision is used when it has every
 * file (as huggingface_hub does), else HubOfflineError / HubNetworkError.
 */
export async function downloadSnapshot(req: SnapshotRequest, options: HubOptions = {}): Promise<Snapshot> {
  checkRequest(req);
  const settings = hubSettings(options);
  const revision = options.revision ?? 'main';
  const { signal } = options;
  const cache = new RepoCache(settings.cacheDir, req.repo);
  const where = { repo: req.repo, revision };

  const fromCache = async (why: string, cause?: unknown): Promise<Snapshot> => {
    const commit = await cache.commitOf(revision);
    const files = commit && (await cachedFiles(cache, req, commit));
    if (!commit || !files) {
      const what = `${req.repo} at ${revision} ${commit ? `(commit ${commit}) is not complete in` : 'is not in'} the cache '${settings.cacheDir}'`;
      if (cause instanceof HubNetworkError) throw new HubNetworkError(`${cause.message}, and ${what}`, where, { cause });
      throw new HubOfflineError(`${what}, and ${why}`, where, { cause });
    }
    return { repo: req.repo, revision, commit, dir: cache.snapshot(commit), files, offline: why };
  };
  if (settings.offline) return fromCache('offline mode is on (HF_HUB_OFFLINE or offline: true)');

  // A pinned commit that is whole in the cache needs nothing from the Hub (and is not looked up twice).
  const pinned = COMMIT_RE.test(revision);
  const pinnedHit = pinned ? await cachedFiles(cache, req, revision) : undefined;
  if (pinnedHit) {
    await dropStalePartials(cache, pinnedHit, signal);
    return { repo: req.repo, revision, commit: revision, dir: cache.snapshot(revision), files: pinnedHit };
  }
  let commit: string;
  try {
    commit = await remoteCommit(req.repo, revision, settings, signal);
  } catch (err) {
    if (err instanceof HubNetworkError && err.status === undefined) return fromCache('the Hub is unreachable', err);
    throw err;
  }
  const hit = pinned ? undefined : await cachedFiles(cache, req, commit);
  if (hit) await dropStalePartials(cache, hit, signal);
  const files = hit ?? (await fetchFiles(cache, await remoteFiles(req, commit, settings, signal), settings, options));
  await cache.setRef(revision, commit);
  return { repo: req.repo, revision, commit, dir: cache.snapshot(commit), files };
}

/**
 * Deletes blobs/<etag>.incomplete where blobs/<etag> is whole: left when a pull was interrupted and another tool
 * (huggingface_hub 1.x never resumes another process's partial file) then fetched the file. Under the blob's lock.
 */
async function dropStalePartials(cache: RepoCache, files: SnapshotFile[], signal?: AbortSignal): Promise<void> {
  const blobs = await realpath(path.join(cache.root, 'blobs')).catch(() => undefined);
  for (const f of files) {
    const blob = await realpath(f.local).catch(() => undefined);
    if (!blob || path.dirname(blob) !== blobs || !existsSync(`${blob}.incomplete`)) continue;
    await withBlobLock(cache, path.basename(blob), signal, () => rm(`${blob}.incomplete`, { force: true }));
  }
}

/** Links or downloads each file (four at a time). */
async function fetchFiles(cache: RepoCache, remote: RemoteFile[], settings: HubSettings, options: HubOptions): Promise<SnapshotFile[]> {
  const out: SnapshotFile[] = new Array(remote.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < remote.length; i = next++) out[i] = await fetchFile(cache, remote[i], settings, options);
  };
  await Promise.all(Array.from({ length: Math.min(4, remote.length) }, worker));
  return out;
}

async function fetchFile(cache: RepoCache, r: RemoteFile, settings: HubSettings, options: HubOptions): Promise<SnapshotFile> {
  const done = (from: SnapshotFile['from'], local: string, received = 0): SnapshotFile => ({ path: r.file, local, size: r.size, from, received });
  const partial = `${cache.blob(r.etag)}.incomplete`;
  const hit = await cache.cached(r.commit, r.file);
  if (hit) return done('cache', hit.local);
  return withBlobLock(cache, r.etag, options.signal, async () => {
    // Another process (or this one) may have fetched the blob while we waited for the lock.
    if (existsSync(cache.blob(r.etag))) {
      await rm(partial, { force: true });
      return done('blob', await cache.link(r.commit, r.file, r.etag));
    }
    const t = await transferBlob(cache, r, settings, { signal: options.signal, onProgress: options.onProgress });
    return done(t.resumedFrom > 0 ? 'resume' : 'download', await cache.link(r.commit, r.file, r.etag), t.received);
  });
}
