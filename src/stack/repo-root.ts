// The repository's folder, for the servers, tools and files the stack and the tests find in it. On its own, without
// the stack's imports, so a light process (a test's worker process) can take it.
import * as fs from 'node:fs';
import * as path from 'node:path';

// Walk up to package.json so this works from src/ (tsx, ts-jest), from a compiled dist/src/ and from a test's
// compiled copy (.rotator/js/<key>/src/).
export const REPO_ROOT = findRepoRoot(path.resolve(__dirname, '../..'));

function findRepoRoot(start: string): string {
  for (let d = start; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) return start;
  }
}
