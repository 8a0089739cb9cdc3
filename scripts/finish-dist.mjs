#!/usr/bin/env node
// After tsc: the CLI is executable, and dist/binding.d.ts is there for the declarations that import
// '../binding.js' (tsc does not copy a hand-written .d.ts).
import { chmodSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(path.join(root, 'dist/lib/cli.js'), 0o755);
copyFileSync(path.join(root, 'binding.d.ts'), path.join(root, 'dist/binding.d.ts'));
