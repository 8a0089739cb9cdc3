// A real redis-server for the queue tests: on 127.0.0.1 at a free port, in a temporary folder, with the AOF on and
// fsync'd on every write (a kill loses nothing acknowledged), stopped and removed by stop(). And worker processes
// (`skipdit worker --json`) whose event lines are collected.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../lib/native.js';

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('error', () => resolve(false));
    c.once('data', (d) => {
      c.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    c.once('connect', () => c.write('PING\r\n'));
  });
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** SIGKILL: no shutdown save, only what the AOF holds survives. */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder (reloading the AOF). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skipdit-redis-'));
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, dir, kill, start, stop: async () => { await kill(); rmSync(dir, { recursive: true, force: true }); } };
}

export interface WorkerProcess {
  proc: ChildProcess;
  pid: number;
  /** Its --json event lines so far. */
  events: Array<{ type: string; jobId?: string; [k: string]: unknown }>;
  /** Resolves at the first event that matches. */
  waitFor(match: (e: WorkerProcess['events'][number]) => boolean, timeoutMs?: number): Promise<WorkerProcess['events'][number]>;
  exited: Promise<number | null>;
}

/** `skipdit worker --json` from source, ready (its 'ready' event seen) when this resolves. */
export async function startWorker(url: string, queue: string, extra: string[] = []): Promise<WorkerProcess> {
  const root = packageRoot();
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'lib', 'cli.ts'), 'worker', '--redis', url, '--queue', queue, '--device', 'cpu', '--json', ...extra], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: WorkerProcess['events'] = [];
  const waiters: Array<{ match: (e: WorkerProcess['events'][number]) => boolean; resolve: (e: WorkerProcess['events'][number]) => void }> = [];
  let buffered = '', stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line);
      events.push(e);
      for (const w of [...waiters]) if (w.match(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const waitFor = (match: (e: WorkerProcess['events'][number]) => boolean, timeoutMs = 30000) => {
    const seen = events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<WorkerProcess['events'][number]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${proc.pid}: no matching event in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
      waiters.push({ match, resolve: (e) => { clearTimeout(timer); resolve(e); } });
    });
  };
  const w: WorkerProcess = { proc, pid: proc.pid!, events, waitFor, exited };
  await Promise.race([waitFor((e) => e.type === 'ready', 60000), exited.then((code) => { throw new Error(`worker exited ${code}: ${stderr}`); })]);
  return w;
}
