#!/usr/bin/env node
// Launcher: runs the compiled CLI (make build), or the TypeScript source through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'dist/server/cli/main.js');
let mod;
if (existsSync(built)) {
  mod = await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(pathToFileURL(path.join(root, 'server/cli/main.ts')).href);
}
const code = await mod.main(process.argv.slice(2));
process.stdout.write("", () => process.exit(code));
