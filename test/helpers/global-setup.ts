// One scratch folder for the whole test run (assembled guests, logs), removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'trapdoor-test-'));
  process.env.TRAPDOOR_TEST_TMP = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
