// The package version, for --version and the trap log's header record.
import { readFileSync } from 'node:fs';

/** package.json is two levels up from the source, three from dist/. */
export function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'trapdoor' && pkg.version) return pkg.version;
    } catch { /* not here: try the next level */ }
  }
  return 'unknown';
}
