// What a test run builds once and every later test file and process reuses, until a source changes: kept in
// `.rotator/<kind>/<key>`, the key a hash of every source the build reads. Only for tests: nothing here ships.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/stack/repo-root';

/** The product's TypeScript: what the workflow bundle and the compiled test processes are built from. */
export const PRODUCT_SOURCES = ['workflows', 'src', 'activities', 'workers'];

/** How many builds of a kind are kept: the one in use, and the one another run (another checkout state) may still use. */
const KEPT = 2;

/**
 * A hash of `files` and of every `.ts` file under `dirs` (paths relative to the repository), so a build is reused only
 * for exactly the sources it read. `files` holds the build's own options too (the file that sets them).
 */
export function sourceKey({ files, dirs }: { files: string[]; dirs: string[] }): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(readFileSync(join(REPO_ROOT, file)));
  for (const file of dirs.flatMap(sourcesUnder).sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(REPO_ROOT, file)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

/** The `.ts` files under `dir`, relative to the repository. */
function sourcesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** `.rotator/<kind>/<name>` if it was built already, marked as used now (see keep); null if not. */
export function reuse(kind: string, name: string): string | null {
  const path = join(REPO_ROOT, '.rotator', kind, name);
  try {
    const now = new Date();
    utimesSync(path, now, now);
    return path;
  } catch {
    return null;
  }
}

/** Where a build of `kind` writes before keep() moves it into place: its own name, so builds beside it never collide. */
export function partialPath(kind: string, name: string): string {
  const dir = join(REPO_ROOT, '.rotator', kind);
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.${process.pid}.tmp`);
}

/**
 * Moves what was just built at `partial` into place as `.rotator/<kind>/<name>`, in one rename, so a test file or
 * process beside this one never reads half of it. Returns where the build now is: in place; or, when another process
 * put its own there first, that one; or, when it cannot be moved at all (a read-only or full disk), still at
 * `partial`, where the caller uses it once. Of the builds there, the KEPT used last stay (a run on other sources may be
 * using one), and partial builds whose process has ended go. Nothing here fails a test.
 */
export function keep(kind: string, partial: string, name: string): string {
  const dir = join(REPO_ROOT, '.rotator', kind);
  const final = join(dir, name);
  try {
    renameSync(partial, final);
  } catch {
    if (!existsSync(final)) return partial;
    rmSync(partial, { recursive: true, force: true });
  }
  try {
    const builds: Array<{ path: string; used: number }> = [];
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      const pid = /\.(\d+)\.tmp$/.exec(entry)?.[1];
      if (pid === undefined) builds.push({ path, used: statSync(path).mtimeMs });
      else if (!alive(Number(pid))) rmSync(path, { recursive: true, force: true });
    }
    builds.sort((a, b) => b.used - a.used);
    for (const old of builds.slice(KEPT)) if (old.path !== final) rmSync(old.path, { recursive: true, force: true });
  } catch {
    // Left for the next build to remove.
  }
  return final;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let compiled: string | undefined;
/**
 * The JavaScript of `entry` (a `.ts` path relative to the repository), for a test to start as a process of its own with
 * node alone: tsx would spend about a CPU-second per process resolving and transpiling, and the fault harnesses start
 * about 190 worker processes a run. Every file of the product and of test/support is transpiled together (esbuild, the
 * transpiler tsx uses, with the same tsconfig.json) into `.rotator/js/<key>/` in the repository's layout, so relative
 * imports and `require.resolve`s between those files, and packages, resolve as from the sources. A path built from
 * `__dirname` that leaves those folders does not: take REPO_ROOT (src/stack/repo-root.ts).
 */
export function compiledScript(entry: string): string {
  compiled ??= compileTree();
  return join(compiled, entry.replace(/\.ts$/, '.js'));
}

function compileTree(): string {
  const dirs = [...PRODUCT_SOURCES, 'test/support'];
  const key = () => sourceKey({ files: ['package-lock.json', 'tsconfig.json', 'test/support/build-cache.ts'], dirs });
  const before = key();
  const found = reuse('js', before);
  if (found) return found;
  const partial = partialPath('js', before);
  // Loaded here, not at the top: only tests that start processes need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildSync } = require('esbuild') as typeof import('esbuild');
  buildSync({
    entryPoints: dirs.flatMap(sourcesUnder).map((f) => join(REPO_ROOT, f)),
    outdir: partial,
    outbase: REPO_ROOT,
    format: 'cjs',
    platform: 'node',
    target: 'node24',
    // `await import('./x')` becomes a require, as in tsc's commonjs output: node's import() would not find `./x.js`.
    supported: { 'dynamic-import': false },
    logLevel: 'error',
  });
  // A source edited while esbuild read them: this build is used once, not kept under the key of sources it never saw.
  if (key() !== before) return partial;
  return keep('js', partial, before);
}
