// `make` runs this (compiled, dist/vscode-extension/scripts/sync-manifest.js): writes
// the `trapdoor` debugger contribution made from the adapter's launch attribute table
// into vscode-extension/package.json. With --check it only says whether the file is
// out of date (exit 1).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { syncManifest } from '../src/model/manifest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// from the source (vscode-extension/scripts) or the build (dist/vscode-extension/scripts)
const root = here.includes(`${path.sep}dist${path.sep}`) ? path.resolve(here, '../../..') : path.resolve(here, '../..');
const file = path.join(root, 'vscode-extension/package.json');
const text = readFileSync(file, 'utf8');
const synced = syncManifest(text);
if (synced === text) process.exit(0);
if (process.argv.includes('--check')) {
  process.stderr.write(`${file} is out of date with adapter/launch-attributes.ts: run make\n`);
  process.exit(1);
}
writeFileSync(file, synced);
process.stderr.write(`updated the debugger contribution of ${path.relative(process.cwd(), file)}\n`);
