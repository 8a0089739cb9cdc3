// Serves the released repositories' layouts with tiny random weights (test/helpers/tiny-hub.ts) on 127.0.0.1, to
// try `skipdit pull` and hf:// paths without the network:
//   node dist/bench/fake-hub-serve.js [--port 8765] &
//   HF_ENDPOINT=http://127.0.0.1:8765 HF_HOME=/tmp/hf npx skipdit pull dit-xl-2-skip
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeHub } from '../test/helpers/fake-hub.js';
import { addTinyReleasedRepos } from '../test/helpers/tiny-hub.js';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 8765;
const work = mkdtempSync(path.join(os.tmpdir(), 'skipdit-fake-hub-'));
const hub = await new FakeHub().start(port);
addTinyReleasedRepos(hub, work);
console.log(`a Hub on ${hub.url} (CDN ${hub.cdnUrl}) with ${[...hub.repos.keys()].join(', ')}`);
console.log(`try: HF_ENDPOINT=${hub.url} HF_HOME=/tmp/hf npx skipdit pull dit-xl-2-skip`);
const stop = async () => {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
