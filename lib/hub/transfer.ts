// One file from the Hub into blobs/<etag>: what @huggingface/hub's downloadFileToCacheDir does not do. It resumes
// an interrupted download from blobs/<etag>.incomplete with an HTTP Range (also after a connection dropped
// mid-file, up to `retries` times), checks the bytes against the Hub's checksum (the LFS sha256, or the git blob
// sha1 of a small file) before renaming them into place, never sends the token to another origin (the CDN a
// resolve URL redirects to), and turns every failure into a typed HubError.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, statfs, truncate, unlink, type FileHandle } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { AbortError, HubAuthError, HubError, HubIntegrityError, HubNetworkError, HubNotFoundError, HubStorageError } from '../errors.js';
import { sleep, type RepoCache } from './cache.js';
import type { DownloadProgress, HubSettings } from './settings.js';

/** A file of one commit, as paths-info / the tree listing describe it. */
export interface RemoteFile {
  repo: string;
  commit: string;
  /** Its path in the repository. */
  file: string;
  size: number;
  /** The blob name: the LFS sha256, or the git blob sha1. */
  etag: string;
  /** Whether etag is an LFS sha256 (else a git blob sha1 of the bytes). */
  lfs: boolean;
}

export interface TransferOptions {
  signal?: AbortSignal;
  onProgress?: (event: DownloadProgress) => void;
}

export interface TransferReport {
  /** Bytes that were already on disk from an interrupted download. */
  resumedFrom: number;
  /** Bytes received over the network by this call. */
  received: number;
}

const STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EFBIG']);

/** A resolve URL of the Hub: path segments encoded, as huggingface_hub's hf_hub_url. */
export function resolveUrl(endpoint: string, repo: string, commit: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** What an error report needs of an answer (a fetch Response, or a HubAnswer). */
interface ErrorAnswer {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** An answer of hubGet: the body is the Node stream itself (read at about twice fetch's rate on a fast link). */
export interface HubAnswer extends ErrorAnswer {
  ok: boolean;
  body: http.IncomingMessage;
  /** Drops the body (and the connection). */
  cancel(): void;
}

function answer(res: http.IncomingMessage): HubAnswer {
  const status = res.statusCode ?? 0;
  return {
    status, ok: status >= 200 && status < 300, body: res,
    headers: { get: (name) => { const v = res.headers[name.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v; } },
    text: async () => {
      let text = '';
      for await (const chunk of res) if ((text += chunk).length > 4096) break;
      return text;
    },
    cancel: () => res.destroy(),
  };
}

/** Turns a non-OK Hub answer into its typed error (X-Error-Code as huggingface_hub's hf_raise_for_status reads it). */
export async function hubHttpError(res: ErrorAnswer, where: { repo: string; file?: string; revision?: string }): Promise<HubError> {
  const code = res.headers.get('x-error-code') ?? '';
  const serverSays = (res.headers.get('x-error-message') ?? (await res.text().catch(() => '')).slice(0, 300)).trim();
  const what = `${where.repo}${where.file ? `/${where.file}` : ''}${where.revision ? ` at revision ${where.revision}` : ''}`;
  const detail = `(HTTP ${res.status}${code ? ` ${code}` : ''}${serverSays ? `: ${serverSays}` : ''})`;
  const w = { ...where, status: res.status };
  if (code === 'RepoNotFound' || (res.status === 404 && code === '')) {
    const missing = code === 'RepoNotFound' ? 'repo' : where.file ? 'file' : 'repo';
    return new HubNotFoundError(`${missing === 'repo' ? `Repository ${where.repo}` : what} not found ${detail}; if it is private or gated, set HF_TOKEN`, missing, w);
  }
  if (code === 'RevisionNotFound') return new HubNotFoundError(`Revision ${where.revision} of ${where.repo} not found ${detail}`, 'revision', w);
  if (code === 'EntryNotFound') return new HubNotFoundError(`${what} not found ${detail}`, 'file', w);
  if (res.status === 401 || res.status === 403) {
    const why = code === 'GatedRepo' ? 'the repository is gated: accept its conditions on the Hub and set HF_TOKEN to a token of that account'
      : 'set HF_TOKEN (or log in with huggingface-cli) to a token that can read it';
    return new HubAuthError(`Not allowed to download ${what} ${detail}: ${why}`, w);
  }
  return new HubNetworkError(`The Hub answered ${what} with an error ${detail}`, w);
}

/**
 * GET that follows redirects itself: the Authorization header goes to the Hub's origin only, never to the CDN
 * that a resolve URL redirects to (pre-signed URLs there reject it, and it must not leak).
 */
export async function hubGet(url: string, settings: HubSettings, headers: Record<string, string>, signal: AbortSignal): Promise<HubAnswer> {
  const hubOrigin = new URL(settings.endpoint).origin;
  for (let hops = 0; hops <= 10; hops++) {
    const h: Record<string, string> = { ...headers, 'user-agent': 'skipdit; @huggingface/hub', 'accept-encoding': 'identity' };
    if (settings.token && new URL(url).origin === hubOrigin) h.authorization = `Bearer ${settings.token}`;
    const get = url.startsWith('https:') ? https.get : http.get;
    const res = answer(await new Promise<http.IncomingMessage>((resolve, reject) => {
      // 1 MiB reads (the default 16 KiB made hashing and writing per chunk the bottleneck on a fast link)
      get(url, { headers: h, signal, highWaterMark: 1 << 20 } as http.RequestOptions, resolve).once('error', reject);
    }));
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) return res;
    res.cancel();
    url = new URL(location, url).href;
  }
  throw new TypeError(`more than 10 redirects from ${url}`);
}

/** The hasher of a file whose etag is `remote.etag`, fed the first `upTo` bytes of `file` (a resumed download). */
async function hasherOf(remote: RemoteFile, file: string, upTo: number, signal?: AbortSignal): Promise<Hash> {
  const hash = createHash(remote.lfs ? 'sha256' : 'sha1');
  if (!remote.lfs) hash.update(`blob ${remote.size}\0`); // git's blob id
  if (upTo > 0) for await (const chunk of createReadStream(file, { end: upTo - 1, signal })) hash.update(chunk as Buffer);
  return hash;
}

/** Why an attempt ended, when it did not end the download. */
type Retry = { retry: true; reason: string; cause?: unknown };

/**
 * Downloads `remote` into blobs/<etag> (the caller holds the blob's lock and has checked it is absent). Returns how
 * much was resumed and received. On failure the partial file stays for the next call, except a corrupt one.
 */
export async function transferBlob(cache: RepoCache, remote: RemoteFile, settings: HubSettings, o: TransferOptions): Promise<TransferReport> {
  const where = { repo: remote.repo, file: remote.file, revision: remote.commit };
  const blob = cache.blob(remote.etag);
  const partial = `${blob}.incomplete`;
  const storage = (err: unknown, doing: string) => {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!STORAGE_CODES.has(code)) return err;
    const why = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' ? 'no space left' : 'not writable';
    return new HubStorageError(`Cannot ${doing} '${partial}' (${why}, ${code}) while downloading ${remote.repo}/${remote.file}; the partial file is kept for a later resume`, where, { cause: err });
  };
  try {
    await mkdir(path.dirname(blob), { recursive: true });
  } catch (err) {
    throw storage(err, 'create the folder of');
  }
  let offset = await stat(partial).then((s) => s.size, () => 0);
  if (offset > remote.size) {
    await truncate(partial, 0);
    offset = 0;
  }
  const resumedFrom = offset;
  const fs = await statfs(path.dirname(blob)).catch(() => undefined);
  if (fs && fs.bavail * fs.bsize < remote.size - offset) {
    throw new HubStorageError(`Not enough space for ${remote.repo}/${remote.file} in '${path.dirname(blob)}': it needs ${remote.size - offset} more bytes, ` +
      `${fs.bavail * fs.bsize} are free`, where);
  }

  let hash = await hasherOf(remote, partial, offset, o.signal);
  let received = 0;
  let lastReport = 0;
  const report = (done: boolean) => {
    const now = performance.now();
    if (!o.onProgress || (!done && now - lastReport < 100)) return;
    lastReport = now;
    o.onProgress({ phase: 'download', repo: remote.repo, file: remote.file, completed: offset, total: remote.size, resumedFrom, done });
  };
  report(false);
  const url = resolveUrl(settings.endpoint, remote.repo, remote.commit, remote.file);

  /** One request from `offset` to the end; returns a Retry when another attempt may get further. */
  const attempt = async (): Promise<Retry | undefined> => {
    const stall = new AbortController();
    const signal = o.signal ? AbortSignal.any([o.signal, stall.signal]) : stall.signal;
    const timer = setTimeout(() => stall.abort(), settings.stallTimeoutMs);
    const alive = () => timer.refresh(); // one timer, restarted on every chunk
    let fh: FileHandle | undefined;
    try {
      let res: HubAnswer;
      try {
        res = await hubGet(url, settings, offset > 0 ? { range: `bytes=${offset}-` } : {}, signal);
      } catch (err) {
        if (o.signal?.aborted) throw new AbortError(`The download of ${remote.repo}/${remote.file} was aborted at byte ${offset} of ${remote.size}; it resumes from there`);
        return { retry: true, reason: stall.signal.aborted ? 'no answer' : 'cannot connect', cause: err };
      }
      if (res.status === 416 && offset > 0) {
        // The partial file is not a prefix of this file (or is whole): start again.
        res.cancel();
        await truncate(partial, 0);
        offset = 0;
        hash = await hasherOf(remote, partial, 0);
        return { retry: true, reason: 'range not satisfiable' };
      }
      if (res.status >= 500 || res.status === 429) {
        res.cancel();
        return { retry: true, reason: `HTTP ${res.status}` };
      }
      if (!res.ok) throw await hubHttpError(res, where);
      if (res.status === 206) {
        const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
        if (start !== offset) throw new HubNetworkError(`The server answered a Range request for byte ${offset} of ${remote.file} from byte ${start}`, where);
      } else if (offset > 0) {
        // 200 to a Range request: the whole file comes again.
        offset = 0;
        hash = await hasherOf(remote, partial, 0);
      }
      try {
        fh = await open(partial, offset === 0 ? 'w' : 'r+');
      } catch (err) {
        throw storage(err, 'open');
      }
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        alive();
        if (offset + chunk.length > remote.size) throw new HubIntegrityError(`${remote.repo}/${remote.file} is longer than the ${remote.size} bytes the Hub reports`, where);
        try {
          await fh.write(chunk, 0, chunk.length, offset);
        } catch (err) {
          throw storage(err, 'write');
        }
        hash.update(chunk);
        offset += chunk.length;
        received += chunk.length;
        report(false);
      }
      return offset === remote.size ? undefined : { retry: true, reason: `connection closed at byte ${offset} of ${remote.size}` };
    } catch (err) {
      if (o.signal?.aborted) throw new AbortError(`The download of ${remote.repo}/${remote.file} was aborted at byte ${offset} of ${remote.size}; it resumes from there`);
      if (err instanceof HubError) throw err;
      if ((err as NodeJS.ErrnoException).code && STORAGE_CODES.has((err as NodeJS.ErrnoException).code!)) throw storage(err, 'write');
      return { retry: true, reason: stall.signal.aborted ? `stalled for ${settings.stallTimeoutMs} ms at byte ${offset}` : `connection lost at byte ${offset}`, cause: err };
    } finally {
      clearTimeout(timer);
      await fh?.close();
    }
  };

  // Retries count only attempts that got nothing: a connection dropped after progress is resumed at once.
  for (let failures = 0; offset < remote.size;) {
    const before = offset;
    const outcome = await attempt();
    if (!outcome) break;
    failures = offset > before ? 0 : failures + 1;
    if (failures > settings.retries) {
      throw new HubNetworkError(`Downloading ${remote.repo}/${remote.file} failed (${outcome.reason}) after ${settings.retries} retries; ` +
        `${offset} of ${remote.size} bytes are kept in '${partial}' and the next pull resumes from there`, where, { cause: outcome.cause });
    }
    if (failures > 0) await sleep(Math.min(8000, 250 * 2 ** (failures - 1)), o.signal);
  }
  if (remote.size === 0) await open(partial, 'w').then((fh) => fh.close()); // nothing to fetch; still checked below

  const digest = hash.digest('hex');
  if (digest !== remote.etag) {
    await unlink(partial).catch(() => undefined);
    throw new HubIntegrityError(`${remote.repo}/${remote.file} is corrupt: its ${remote.lfs ? 'sha256' : 'git sha1'} is ${digest}, the Hub reports ${remote.etag}; ` +
      'the download was deleted', where);
  }
  await rename(partial, blob);
  report(true);
  return { resumedFrom, received };
}
