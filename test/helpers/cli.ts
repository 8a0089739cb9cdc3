// Runs the CLI from source (lib/cli.ts through tsx), as `npx skipdit` would, from the package root.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../lib/native.js';

const run = promisify(execFile);

export function cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const root = packageRoot();
  return run(process.execPath, ['--import', 'tsx', path.join(root, 'lib', 'cli.ts'), ...args], { cwd: root });
}
