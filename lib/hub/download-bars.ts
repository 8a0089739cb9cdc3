// Terminal progress of downloads for the CLI: one cli-progress bar per file in flight (bytes, rate, ETA), and the
// summary of what a pull left on disk.
import cliProgress from 'cli-progress';
import type { Snapshot } from './hub.js';
import type { DownloadProgress } from './settings.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : n < 10 ? 2 : 1)} ${units[i]}`;
}

/** onProgress for HubOptions drawing a bar per file on stderr (nothing when stderr is not a terminal); stop() ends them. */
export function downloadBars(enabled = process.stderr.isTTY): { onProgress: (e: DownloadProgress) => void; stop(): void } {
  if (!enabled) return { onProgress: () => undefined, stop: () => undefined };
  const multi = new cliProgress.MultiBar({
    format: '{file} [{bar}] {percentage}% | {done}/{size} | {rate}/s | ETA {eta_formatted}',
    hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 10, stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  const bars = new Map<string, { bar: cliProgress.SingleBar; start: number; from: number }>();
  return {
    onProgress(e) {
      const key = `${e.repo}/${e.file}`;
      let b = bars.get(key);
      const payload = (completed: number) => {
        const seconds = (performance.now() - (b?.start ?? performance.now())) / 1000;
        return { file: e.file.length > 40 ? `...${e.file.slice(-37)}` : e.file.padEnd(40), done: formatBytes(completed), size: formatBytes(e.total), rate: formatBytes(seconds > 0 ? (completed - (b?.from ?? 0)) / seconds : 0) };
      };
      if (!b) {
        b = { bar: multi.create(e.total, e.completed, payload(e.completed)), start: performance.now(), from: e.completed };
        bars.set(key, b);
      }
      b.bar.update(e.completed, payload(e.completed));
      if (e.done) b.bar.stop();
    },
    stop: () => multi.stop(),
  };
}

/** Lines saying where each file is and how it got there. */
export function describeSnapshots(snapshots: Snapshot[]): string[] {
  const lines: string[] = [];
  for (const s of snapshots) {
    lines.push(`${s.repo} @ ${s.commit}${s.revision !== s.commit ? ` (${s.revision})` : ''}${s.offline ? ` [from the cache: ${s.offline}]` : ''}`);
    lines.push(`  ${s.dir}`);
    for (const f of s.files) lines.push(`    ${f.path.padEnd(56)} ${formatBytes(f.size).padStart(9)}  ${f.from === 'cache' ? 'cached' : f.from === 'blob' ? 'linked' : f.from === 'resume' ? 'resumed' : 'downloaded'}`);
  }
  return lines;
}
