// The skipdit CLI (run from source with tsx): sample with and without cache, JSON report, errors, Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native.js';
import { fixturePath } from './helpers/fixtures.js';
import { readSafetensors } from './helpers/safetensors.js';
import { cli } from './helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'skipdit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('skipdit inspect / convert', () => {
  it('inspect shows the picked state dict, the inert extras and the inferred config; convert writes a loadable file', async () => {
    const ckpt = fixturePath('dit-skip-tiny', 'ckpt-train.pt');
    const a = await cli('inspect', ckpt);
    expect(a.stdout).toMatch(/torch-zip, state dict 'ema' \(of \["model","ema"\]\), archive folder 'ckpt-train'/);
    expect(a.stdout).toMatch(/"args":\{"__class__":"argparse.Namespace"/);
    expect(a.stdout).toMatch(/unknown: num_heads/);
    const out = path.join(dir, 'converted.safetensors');
    const b = await cli('convert', ckpt, out, '--config', '{"num_heads": 4}');
    expect(b.stdout).toMatch(/from state dict 'ema'/);
    const c = await cli('inspect', out, '--json');
    const info = JSON.parse(c.stdout);
    expect(info.format).toBe('safetensors');
    expect(info.config.num_heads).toBe(4);
    expect(info.metadata.state_dict).toBe('ema');
    const bad = await cli('convert', ckpt, path.join(dir, 'x.safetensors')).catch((e) => e);
    expect(bad.stderr).toMatch(/CheckpointError: cannot tell the config/);
  });
});

describe('skipdit sample', () => {
  const model = fixturePath('dit-skip-tiny', 'model.safetensors');

  it('writes the samples with and without cache; the JSON report shows the cached steps', async () => {
    const plain = path.join(dir, 'plain.safetensors');
    const cached = path.join(dir, 'cached.safetensors');
    const a = await cli('sample', '--model', model, '--class', '3', '7', '--steps', '10', '--cfg', '4', '--seed', '1', '--out', plain);
    expect(a.stdout).toMatch(/wrote .*plain\.safetensors: samples \[2, 4, 8, 8\]/);
    const b = await cli('sample', '--model', model, '--class', '3', '7', '--steps', '10', '--cfg', '4', '--seed', '1', '--cache', 'dit:3', '--out', cached, '--json');
    const report = JSON.parse(b.stdout);
    expect(report.stepsDetail.map((s: { cached: boolean }) => s.cached)).toEqual([false, true, true, false, true, true, false, true, true, false]);
    expect(report.cachedSteps).toBe(6);
    const fa = readSafetensors(plain), fb = readSafetensors(cached);
    expect(fa.tensors.samples.shape).toEqual([2, 4, 8, 8]);
    expect(JSON.parse(fb.metadata.cache)).toMatchObject({ interval: 3, branch: 4 });
    expect(fa.metadata.seed).toBe('1');
    expect(fa.tensors.samples.data).not.toEqual(fb.tensors.samples.data); // the cache changes the result
  });

  it('fails with a typed message and a non-zero exit on bad input', async () => {
    const err = await cli('sample', '--model', model, '--class', '12', '--out', path.join(dir, 'x.safetensors')).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/InvalidArgumentError: Expected a class in \[0, 9\] for labels\[0\] but received 12/);
    const err2 = await cli('sample', '--model', model, '--class', '1', '--cache', 'dit:x').catch((e) => e);
    expect(err2.stderr).toMatch(/interval/);
    const err3 = await cli('sample', '--model', model).catch((e) => e);
    expect(err3.stderr).toMatch(/Expected --class <label\.\.\.> for a class-conditional model \(classes 0\.\.9\)/);
  });
});

// Ctrl-C as on a terminal: util-linux `script` gives the CLI a pseudo-terminal (so its progress bar shows), and the
// ^C written to it becomes a SIGINT to the CLI. A small Node wrapper inside runs the CLI, its stdout to a file, and
// records how it ended (exit code or signal).
describe.skipIf(spawnSync('script', ['--version']).status !== 0)('skipdit generate: Ctrl-C', () => {
  const wrapper = path.join(dir, 'wrapper.mjs');
  writeFileSync(wrapper, `
    import { spawnSync } from 'node:child_process';
    import { openSync, writeFileSync } from 'node:fs';
    process.on('SIGINT', () => {}); // the terminal's ^C reaches this process too: only the CLI acts on it
    const [status, stdout, ...args] = process.argv.slice(2);
    const r = spawnSync(process.execPath, args, { stdio: ['inherit', openSync(stdout, 'w'), 'inherit'] });
    writeFileSync(status, JSON.stringify({ code: r.status, signal: r.signal }));
  `);
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

  it('after the first reported step: the step in flight completes, the bar stops, one line on stderr, exit code 130, nothing written', async () => {
    const out = path.join(dir, 'interrupted.png');
    const [status, stdout] = [path.join(dir, 'status.json'), path.join(dir, 'stdout.txt')];
    const command = [process.execPath, wrapper, status, stdout, '--import', 'tsx', path.join(packageRoot(), 'lib', 'cli.ts'),
      'generate', '--class', '3', '--steps', '1000', '--out', out].map(quote).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: packageRoot() });
    let terminal = '';
    let reported = 0; // the step count the bar showed when ^C was typed
    child.stdout.on('data', (chunk: Buffer) => {
      terminal += chunk.toString();
      const shown = [...terminal.matchAll(/sampling \[[^\]]*\] (\d+)\/1000/g)].map((m) => Number(m[1]));
      if (!reported && shown.some((k) => k >= 1)) {
        reported = Math.max(...shown);
        child.stdin.write('\x03');
      }
    });
    await new Promise((resolve) => child.on('close', resolve));
    expect(reported).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(readFileSync(status, 'utf8'))).toEqual({ code: 130, signal: null });
    const lines = [...terminal.matchAll(/skipdit: interrupted after (\d+) of 1000 steps; nothing written/g)];
    expect(lines).toHaveLength(1);
    expect(Number(lines[0][1])).toBeGreaterThanOrEqual(reported);
    expect(Number(lines[0][1])).toBeLessThan(1000);
    expect(terminal.lastIndexOf('\x1b[?25h')).toBeLessThan(lines[0].index); // the bar stopped (cursor shown again) before the line
    expect(readFileSync(stdout, 'utf8')).toBe(''); // the line was on stderr, and nothing was reported as written
    expect(existsSync(out)).toBe(false);
  });
});
