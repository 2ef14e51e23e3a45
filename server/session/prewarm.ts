// The emulation worker, started as early as a command knows it will need one:
// a thread's start and the emulator's modules take ~150 ms here, which then
// overlap the rest of start-up (loading the CLI, reading options, image and
// policy). Kept free of heavy imports: bin/trapdoor.js loads it first.
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import path from 'node:path';

/** file URL of tsx's ESM API (the worker bootstrap registers it when running from source). */
function tsxApi(from: string): string {
  const pkg = createRequire(from).resolve('tsx/package.json');
  return pathToFileURL(path.join(path.dirname(pkg), 'dist/esm/api/index.mjs')).href;
}

function startWorker(): Worker {
  const here = import.meta.url;
  const fromSource = here.endsWith('.ts');
  // Running from TypeScript source (tests, tsx): the worker registers tsx first.
  if (fromSource) {
    const workerUrl = new URL('./worker.ts', here);
    return new Worker(`import(${JSON.stringify(tsxApi(here))})` +
      `.then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); })`, { eval: true });
  }
  // Built: the bundle `make build` makes (one file loads faster; CommonJS: a worker
  // whose entry is CommonJS starts ~10 ms sooner than one that needs the ES module
  // loader), else the modules.
  const bundle = fileURLToPath(new URL('./worker.bundle.cjs', here));
  return new Worker(existsSync(bundle) ? bundle : fileURLToPath(new URL('./worker.js', here)));
}

/** A worker started ahead of Session.open (prewarm). */
let warm: Worker | undefined;

/**
 * Starts the emulation worker now, so that its start-up (a thread and the
 * emulator's modules, ~150 ms here) overlaps whatever the caller does before
 * Session.open (parsing options, reading the image and the policy).
 */
export function prewarm(): void {
  if (warm) return;
  const w = startWorker();
  warm = w;
  w.unref(); // a run that ends before it opens a session (bad options) exits at once
  // a worker that fails before a session takes it is replaced by a fresh one
  const drop = () => { if (warm === w) warm = undefined; };
  w.once('error', drop);
  w.once('exit', drop);
}

/** The prewarmed worker, or a new one. */
export function takeWorker(): Worker {
  const w = warm ?? startWorker();
  warm = undefined;
  w.ref();
  return w;
}
