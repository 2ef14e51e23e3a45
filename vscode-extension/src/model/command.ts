// Which `trapdoor` the extension starts (for `trapdoor debug-adapter` and
// `trapdoor lsp --stdio`), without VS Code. The extension does not bundle the
// emulator (native library, Unicorn, worker): it runs the one you built or
// installed.
//  1. the setting `trapdoor.path`: a `trapdoor` executable, or a `bin/trapdoor.js`
//     run with `node` (`${workspaceFolder}` is expanded);
//  2. else `bin/trapdoor.js` in a workspace folder or the folder above it (a
//     checkout of Trapdoor, or its examples/ folder opened on its own);
//  3. else `trapdoor` on PATH (`npm link` / `npm install -g .` in the checkout).
import path from 'node:path';

export interface TrapdoorCommand {
  command: string;
  args: string[];
  /** How it was found, for the log and error messages. */
  from: 'setting' | 'workspace' | 'PATH';
}

export function expandWorkspaceFolder(p: string, folders: readonly string[]): string {
  return p.replace(/\$\{workspaceFolder\}/g, folders[0] ?? '.');
}

export function trapdoorCommand(setting: string | undefined, folders: readonly string[], exists: (file: string) => boolean): TrapdoorCommand {
  const s = setting?.trim();
  if (s) {
    const p = expandWorkspaceFolder(s, folders);
    const abs = path.isAbsolute(p) || !folders.length || !p.includes(path.sep) ? p : path.resolve(folders[0], p);
    return /\.[cm]?js$/.test(abs) ? { command: 'node', args: [abs], from: 'setting' } : { command: abs, args: [], from: 'setting' };
  }
  for (const f of folders) {
    for (const candidate of [path.join(f, 'bin', 'trapdoor.js'), path.join(f, '..', 'bin', 'trapdoor.js')]) {
      if (exists(candidate)) return { command: 'node', args: [path.normalize(candidate)], from: 'workspace' };
    }
  }
  return { command: 'trapdoor', args: [], from: 'PATH' };
}
