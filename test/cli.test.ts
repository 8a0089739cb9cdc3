// The skipdit CLI (run from source with tsx): sample with and without cache, JSON report, errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
