// The project root, from bench/ (tsx) or dist/bench/ (compiled).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = here.endsWith(path.join('dist', 'bench')) ? path.resolve(here, '../..') : path.resolve(here, '..');
