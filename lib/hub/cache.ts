// The Hugging Face cache layout, exactly as Python's huggingface_hub writes and reads it (file_download.py):
//
//   <cacheDir>/models--<org>--<name>/
//     blobs/<etag>                      the file: etag = the LFS sha256, or the git blob sha1 of a small file
//     blobs/<etag>.incomplete           a download in progress or interrupted (resumed with an HTTP Range)
//     snapshots/<commit>/<path>         a relative symlink to ../../blobs/<etag> (one ../ more per folder of <path>)
//     refs/<branch or tag>              the commit it pointed to at the last download
//   <cacheDir>/.locks/models--<org>--<name>/<etag>.lock     Python's lock (flock); ours is <etag>.skipdit.lock
import { constants } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm, stat, symlink, unlink, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';
import { AbortError } from '../errors.js';

export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** The paths of one repository in the cache. */
export class RepoCache {
  readonly root: string;
  readonly lockDir: string;
  constructor(readonly cacheDir: string, readonly repo: string) {
    const folder = getRepoFolderName({ type: 'model', name: repo });
    this.root = path.join(cacheDir, folder);
    this.lockDir = path.join(cacheDir, '.locks', folder);
  }

  blob(etag: string): string {
    return path.join(this.root, 'blobs', etag);
  }

  snapshot(commit: string, file = ''): string {
    return path.join(this.root, 'snapshots', commit, ...file.split('/').filter(Boolean));
  }

  /** The commit a branch or tag pointed to when last downloaded (a commit is itself). */
  async commitOf(revision: string): Promise<string | undefined> {
    if (COMMIT_RE.test(revision)) return revision;
    try {
      const commit = (await readFile(path.join(this.root, 'refs', ...revision.split('/')), 'utf8')).trim();
      return COMMIT_RE.test(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records where `revision` points (as Python does: the bare commit, no newline), atomically. */
  async setRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const ref = path.join(this.root, 'refs', ...revision.split('/'));
    if ((await readFile(ref, 'utf8').catch(() => undefined)) === commit) return;
    await mkdir(path.dirname(ref), { recursive: true });
    const tmp = `${ref}.${process.pid}.tmp`;
    await writeFile(tmp, commit);
    await rename(tmp, ref);
  }

  /** The snapshot path and size of `file` at `commit` when it is there and its blob too (a dangling link is no hit). */
  async cached(commit: string, file: string): Promise<{ local: string; size: number } | undefined> {
    const p = this.snapshot(commit, file);
    try {
      const st = await stat(p);
      return st.isFile() ? { local: p, size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Points snapshots/<commit>/<file> at blobs/<etag> with a relative link (a copy where links are refused). */
  async link(commit: string, file: string, etag: string): Promise<string> {
    const pointer = this.snapshot(commit, file);
    const blob = this.blob(etag);
    await mkdir(path.dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    try {
      await symlink(path.relative(path.dirname(pointer), blob), pointer);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return pointer; // a concurrent pull linked it
      await copyFile(blob, pointer);
    }
    return pointer;
  }
}

/** Waits `ms`, rejecting with AbortError as soon as `signal` aborts. */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks held by this process, so that two pulls in one process wait on a promise instead of polling. */
const held = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` holding the lock of one blob, across processes: a file created with O_EXCL that holds
 * "<pid> <host>"; a lock whose process is gone (killed mid-download) is taken over. Waiting polls every 100 ms
 * and honours `signal`. Python's huggingface_hub locks with flock on <etag>.lock, which Node cannot take; both
 * verify and rename into blobs/ atomically, so a race between the two costs bandwidth, never a bad file.
 */
export async function withBlobLock<T>(cache: RepoCache, etag: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const lockPath = path.join(cache.lockDir, `${etag}.skipdit.lock`);
  for (let previous = held.get(lockPath); previous; previous = held.get(lockPath)) await previous.catch(() => undefined);
  const run = (async () => {
    await mkdir(cache.lockDir, { recursive: true });
    const me = `${process.pid} ${os.hostname()}`;
    for (;;) {
      try {
        const fh = await open(lockPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY);
        await fh.writeFile(me);
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = (await readFile(lockPath, 'utf8').catch(() => '')).split(' ');
      const pid = Number(owner[0]);
      // Written between our open and its writeFile: give it a moment. Otherwise a dead owner on this host is stale.
      const stale = owner.length === 2 && owner[1] === os.hostname() && Number.isInteger(pid) && !alive(pid);
      if (stale) await unlink(lockPath).catch(() => undefined);
      else await sleep(100, signal);
    }
    try {
      return await fn();
    } finally {
      await unlink(lockPath).catch(() => undefined);
    }
  })();
  held.set(lockPath, run);
  try {
    return await run;
  } finally {
    if (held.get(lockPath) === run) held.delete(lockPath);
  }
}
