#!/usr/bin/env node
// Launcher: runs the compiled CLI (make build), or the TypeScript source through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// the bundled CLI (make build), or its modules
const bundled = path.join(root, 'dist/server/session/cli-main.js');
const built = existsSync(bundled) ? bundled : path.join(root, 'dist/server/cli/main.js');
const args = process.argv.slice(2);
let mod;
if (existsSync(built)) {
  // `run` needs the emulation worker: start it before loading the CLI, so the two overlap.
  if (args[0] === 'run' && !args.includes('--help') && !args.includes('-h')) {
    (await import(pathToFileURL(path.join(root, 'dist/server/session/prewarm.js')).href)).prewarm();
  }
  mod = await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(pathToFileURL(path.join(root, 'server/cli/main.ts')).href);
}
const code = await mod.main(args);
process.stdout.write("", () => process.exit(code));
