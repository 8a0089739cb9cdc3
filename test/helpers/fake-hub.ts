// A Hugging Face Hub on 127.0.0.1 for tests and benchmarks: the endpoints skipdit's client uses, answering as
// huggingface.co does (checked against huggingface_hub's and @huggingface/hub's expectations):
//   GET  /api/models/<repo>/revision/<rev>          model info with `sha`
//   GET  /api/models/<repo>/tree/<rev>[/<path>]      listing, paginated with a Link: <...>; rel="next" header
//   POST /api/models/<repo>/paths-info/<rev>         { paths } -> the entries that exist (files and folders)
//   GET  /<repo>/resolve/<rev>/<path>                small files: 200 with ETag (git sha1) and X-Repo-Commit;
//                                                    LFS files: 302 to the CDN (127.0.0.2, as cas-bridge /
//                                                    cdn-lfs are other hosts) with X-Linked-Etag, X-Linked-Size
//   GET  <cdn>/<sha256>                              the bytes, with Range (206, Content-Range) support
// Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) as the Hub's do. Faults
// (a dropped connection, corrupt bytes, a slow link, 5xx) and a log of what was served let tests check the client.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  data: Buffer;
  /** Stored with LFS (default: files of 1 KiB or more, as the Hub's threshold is about size too). */
  lfs?: boolean;
  /** The size the API reports, when it should lie (a file too large for the disk). */
  reportedSize?: number;
}

export interface FakeRepo {
  /** commit sha -> files */
  commits: Record<string, Record<string, FakeFile>>;
  /** branch or tag -> commit */
  refs: Record<string, string>;
  gated?: boolean;
  private?: boolean;
}

export interface ServedRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
  server: 'hub' | 'cdn';
  status: number;
}

export interface Faults {
  /** CDN: close the connection after this many body bytes of a transfer of this sha256 (once each entry). */
  dropAt?: Map<string, number>;
  /** CDN: as dropAt, on every transfer. */
  dropAlways?: Map<string, number>;
  /** CDN: serve these sha256 blobs with one byte flipped. */
  corrupt?: Set<string>;
  /** CDN: bytes per second per response (0: unlimited). */
  bytesPerSecond?: number;
  /** Answer the next N requests of any kind with this status. */
  failNext?: { status: number; count: number };
  /** Hub API: entries per page of the tree listing. */
  pageSize?: number;
  /** The Hub is down: every request is answered by destroying the socket. */
  down?: boolean;
}

// Memoised: a request must not cost a hash of a 200 MB file (it made every client of the benchmark look slow).
const hashes = new WeakMap<Buffer, Map<string, string>>();
const memo = (b: Buffer, kind: string, compute: () => string) => {
  let m = hashes.get(b);
  if (!m) hashes.set(b, (m = new Map()));
  let v = m.get(kind);
  if (v === undefined) m.set(kind, (v = compute()));
  return v;
};
export const sha256 = (b: Buffer) => memo(b, 'sha256', () => createHash('sha256').update(b).digest('hex'));
export const gitSha1 = (b: Buffer) => memo(b, 'sha1', () => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex'));
const lfsPointer = (b: Buffer) => Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(b)}\nsize ${b.length}\n`);
const lfsPointerSha1 = (b: Buffer) => memo(b, 'pointer', () => gitSha1(lfsPointer(b)));

/** A commit sha made of its index, for readable tests. */
export const commitSha = (n: number) => n.toString(16).padStart(40, 'c');

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** Tokens that may read private and gated repositories. */
  readonly tokens = new Set<string>(['hf_good']);
  readonly log: ServedRequest[] = [];
  /** Body bytes sent per sha256 (LFS, by the CDN) or git sha1 (small files). */
  readonly bytesServed = new Map<string, number>();
  faults: Faults = {};
  private hub?: http.Server;
  private cdn?: http.Server;
  url = '';
  cdnUrl = '';

  /** Adds a repository with one commit on main; returns that commit. */
  addRepo(name: string, files: Record<string, Buffer | FakeFile>, o: { gated?: boolean; private?: boolean; commit?: string } = {}): string {
    const commit = o.commit ?? commitSha(this.repos.size + 1);
    const f = Object.fromEntries(Object.entries(files).map(([p, v]) => [p, Buffer.isBuffer(v) ? { data: v } : v]));
    this.repos.set(name, { commits: { [commit]: f }, refs: { main: commit }, gated: o.gated, private: o.private });
    return commit;
  }

  /** Adds a commit to a repository and moves `branch` (default main) to it. */
  addCommit(name: string, files: Record<string, Buffer | FakeFile>, commit: string, branch = 'main'): void {
    const repo = this.repos.get(name)!;
    repo.commits[commit] = Object.fromEntries(Object.entries(files).map(([p, v]) => [p, Buffer.isBuffer(v) ? { data: v } : v]));
    repo.refs[branch] = commit;
  }

  async start(port = 0): Promise<this> {
    this.hub = http.createServer((req, res) => this.serveHub(req, res));
    this.cdn = http.createServer((req, res) => this.serveCdn(req, res));
    // The CDN is another host, as cas-bridge.xethub.hf.co is to huggingface.co (huggingface_hub follows
    // redirects within a host and stops at another one): another loopback address.
    await new Promise<void>((r) => this.hub!.listen(port, '127.0.0.1', r));
    await new Promise<void>((r) => this.cdn!.listen(0, '127.0.0.2', r));
    this.url = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.2:${(this.cdn.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s?.closeAllConnections();
      await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    }
  }

  /** Requests that fetched file bytes (resolve of a small file, or the CDN). */
  transfers(): ServedRequest[] {
    return this.log.filter((r) => r.server === 'cdn' || (r.url.includes('/resolve/') && r.status === 200));
  }

  private isLfs(f: FakeFile) {
    return f.lfs ?? f.data.length >= 1024;
  }

  private entry(p: string, f: FakeFile) {
    const lfs = this.isLfs(f);
    return {
      type: 'file', path: p, size: f.reportedSize ?? f.data.length, oid: lfs ? lfsPointerSha1(f.data) : gitSha1(f.data),
      ...(lfs && { lfs: { oid: sha256(f.data), size: f.reportedSize ?? f.data.length, pointerSize: lfsPointer(f.data).length } }),
    };
  }

  private record(req: http.IncomingMessage, server: 'hub' | 'cdn', status: number) {
    this.log.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization, server, status });
  }

  private error(req: http.IncomingMessage, res: http.ServerResponse, status: number, code: string, message: string) {
    this.record(req, 'hub', status);
    res.writeHead(status, { 'content-type': 'application/json', ...(code && { 'x-error-code': code }), 'x-error-message': message });
    res.end(JSON.stringify({ error: message }));
  }

  /** The repository and commit a request may see, or an error already sent. */
  private access(req: http.IncomingMessage, res: http.ServerResponse, name: string, rev: string) {
    const repo = this.repos.get(name);
    const auth = req.headers.authorization?.replace(/^Bearer /, '');
    const authed = auth !== undefined && this.tokens.has(auth);
    if (!repo || (repo.private && !authed)) {
      this.error(req, res, auth ? 404 : 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (repo.gated && !authed) {
      this.error(req, res, auth ? 403 : 401, 'GatedRepo', `Access to model ${name} is restricted. You must have access to it and be authenticated to access it.`);
      return undefined;
    }
    const commit = repo.refs[rev] ?? (repo.commits[rev] ? rev : undefined);
    if (!commit) {
      this.error(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return undefined;
    }
    return { repo, commit, files: repo.commits[commit] };
  }

  private serveHub(req: http.IncomingMessage, res: http.ServerResponse) {
    if (this.faults.down) return req.socket.destroy();
    if (this.faults.failNext && this.faults.failNext.count > 0) {
      this.faults.failNext.count--;
      return this.error(req, res, this.faults.failNext.status, '', 'injected failure');
    }
    const url = new URL(req.url ?? '/', this.url);
    const parts = url.pathname.split('/').map(decodeURIComponent);
    // /api/models/<org>/<name>/<verb>/<rev>/<path...>
    if (parts[1] === 'api' && parts[2] === 'models') {
      const name = `${parts[3]}/${parts[4]}`;
      const verb = parts[5];
      const rev = parts[6] ?? 'main';
      const a = this.access(req, res, name, rev === 'HEAD' ? 'main' : rev);
      if (!a) return;
      if (verb === 'revision') {
        this.record(req, 'hub', 200);
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({
          _id: name, id: name, sha: a.commit, private: !!a.repo.private, gated: a.repo.gated ? 'manual' : false, downloads: 0, likes: 0,
          lastModified: '2024-01-01T00:00:00.000Z', siblings: Object.keys(a.files).map((rfilename) => ({ rfilename })),
        }));
      }
      if (verb === 'tree') {
        const folder = parts.slice(7).join('/');
        const recursive = url.searchParams.get('recursive') === 'true';
        const entries = this.tree(a.files, folder, recursive);
        if (folder && entries.length === 0) return this.error(req, res, 404, 'EntryNotFound', `${folder} does not exist on "${rev}"`);
        const size = this.faults.pageSize ?? 1000;
        const cursor = Number(url.searchParams.get('cursor') ?? 0);
        const page = entries.slice(cursor, cursor + size);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (cursor + size < entries.length) {
          const next = new URL(url);
          next.searchParams.set('cursor', String(cursor + size));
          headers.link = `<${next.href}>; rel="next"`;
        }
        this.record(req, 'hub', 200);
        res.writeHead(200, headers);
        return res.end(JSON.stringify(page));
      }
      if (verb === 'paths-info' && req.method === 'POST') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          const { paths } = JSON.parse(body) as { paths: string[] };
          const out = paths.flatMap((p) => {
            if (a.files[p]) return [this.entry(p, a.files[p])];
            if (Object.keys(a.files).some((f) => f.startsWith(`${p}/`))) return [{ type: 'directory', path: p, size: 0, oid: '0'.repeat(40) }];
            return [];
          });
          this.record(req, 'hub', 200);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(out));
        });
        return;
      }
      return this.error(req, res, 404, '', 'unknown endpoint');
    }
    // /<org>/<name>/resolve/<rev>/<path...>
    if (parts[3] === 'resolve') {
      const name = `${parts[1]}/${parts[2]}`;
      const a = this.access(req, res, name, parts[4]);
      if (!a) return;
      const file = parts.slice(5).join('/');
      const f = a.files[file];
      if (!f) return this.error(req, res, 404, 'EntryNotFound', `${file} does not exist`);
      const common = { 'x-repo-commit': a.commit };
      if (this.isLfs(f)) {
        this.record(req, 'hub', 302);
        res.writeHead(302, { ...common, location: `${this.cdnUrl}/${sha256(f.data)}?expires=never`, etag: `"${lfsPointerSha1(f.data)}"`, 'x-linked-etag': `"${sha256(f.data)}"`, 'x-linked-size': String(f.data.length) });
        return res.end();
      }
      this.record(req, 'hub', 200);
      res.writeHead(200, { ...common, etag: `"${gitSha1(f.data)}"`, 'content-length': String(f.data.length) });
      this.bytesServed.set(gitSha1(f.data), (this.bytesServed.get(gitSha1(f.data)) ?? 0) + f.data.length);
      return res.end(req.method === 'HEAD' ? undefined : f.data);
    }
    this.error(req, res, 404, '', 'unknown endpoint');
  }

  private tree(files: Record<string, FakeFile>, folder: string, recursive: boolean) {
    const prefix = folder ? `${folder}/` : '';
    const out: object[] = [];
    const dirs = new Set<string>();
    for (const p of Object.keys(files).sort()) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length).split('/');
      if (rest.length > 1 && !recursive) {
        const d = prefix + rest[0];
        if (!dirs.has(d)) out.push({ type: 'directory', path: d, size: 0, oid: '0'.repeat(40) });
        dirs.add(d);
        continue;
      }
      out.push(this.entry(p, files[p]));
    }
    return out;
  }

  private blobBySha(sha: string): Buffer | undefined {
    for (const repo of this.repos.values()) for (const files of Object.values(repo.commits)) for (const f of Object.values(files)) if (sha256(f.data) === sha) return f.data;
    return undefined;
  }

  private serveCdn(req: http.IncomingMessage, res: http.ServerResponse) {
    if (this.faults.down) return req.socket.destroy();
    const sha = new URL(req.url ?? '/', this.cdnUrl).pathname.slice(1);
    let data = this.blobBySha(sha);
    if (!data) {
      this.record(req, 'cdn', 404);
      res.writeHead(404);
      return res.end();
    }
    if (this.faults.corrupt?.has(sha)) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0xff;
    }
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { 'accept-ranges': 'bytes', etag: `"${sha}"`, 'content-type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let end = data.length;
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Number(range[2]) + 1 : data.length;
      if (start >= data.length) {
        this.record(req, 'cdn', 416);
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        return res.end();
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end - 1}/${data.length}`;
    }
    headers['content-length'] = String(end - start);
    this.record(req, 'cdn', status);
    res.writeHead(status, headers);
    const dropAt = this.faults.dropAt?.get(sha) ?? this.faults.dropAlways?.get(sha);
    this.faults.dropAt?.delete(sha);
    this.stream(res, data, start, end, sha, dropAt);
  }

  /** Writes data[start, end) in 1 MiB pieces, paced to bytesPerSecond, destroying the socket at dropAt (a body offset). */
  private stream(res: http.ServerResponse, data: Buffer, start: number, end: number, sha: string, dropAt?: number) {
    const rate = this.faults.bytesPerSecond ?? 0;
    const piece = rate ? Math.max(1024, Math.min(1 << 20, rate >> 4)) : 1 << 20;
    let pos = start;
    const begun = performance.now();
    const next = () => {
      while (pos < end) {
        if (dropAt !== undefined && pos - start >= dropAt) {
          res.destroy();
          return;
        }
        const stop = Math.min(end, pos + piece, dropAt !== undefined ? start + dropAt : end);
        const chunk = data.subarray(pos, stop);
        pos = stop;
        this.bytesServed.set(sha, (this.bytesServed.get(sha) ?? 0) + chunk.length);
        // the drop point: destroy once these bytes are flushed (a destroy right away may discard what is still
        // buffered in the process, and the client would get fewer bytes than dropAt under load)
        const dropNow = dropAt !== undefined && pos - start >= dropAt;
        const ok = res.write(chunk, dropNow ? () => res.destroy() : undefined);
        if (dropNow) return;
        if (rate) {
          const due = begun + ((pos - start) / rate) * 1000;
          const wait = due - performance.now();
          if (wait > 0) return void setTimeout(next, wait);
        }
        if (!ok) return void res.once('drain', next);
      }
      if (dropAt !== undefined && pos - start >= dropAt) res.destroy();
      else res.end();
    };
    res.on('close', () => (pos = end + 1)); // the client went away: stop
    next();
  }
}
