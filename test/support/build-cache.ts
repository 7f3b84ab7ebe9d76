// What a test run builds once and every test file and process after it reuses: kept in `.rotator/<kind>/<key>`, the
// key a hash of every source the build reads, so any edit there builds anew. Only for tests: nothing here ships.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');

/** The product's TypeScript: what the workflow bundle and the compiled test processes are built from. */
export const PRODUCT_SOURCES = ['workflows', 'src', 'activities', 'workers'];

/**
 * A hash of `files` and of every `.ts` file under `dirs` (paths relative to the repository), with `options` (the build's
 * own settings), so a build is reused only for exactly the sources it read.
 */
export function sourceKey({ files, dirs, options = '' }: { files: string[]; dirs: string[]; options?: string }): string {
  const hash = createHash('sha256').update(options).update('\0');
  for (const file of files) hash.update(readFileSync(join(ROOT, file)));
  const sources = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(dir, f));
  for (const file of dirs.flatMap(sources).sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(ROOT, file)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

/**
 * Moves what was just built at `partial` into place as `.rotator/<kind>/<name>`, in one rename, so a test file or
 * process beside this one never reads half of it, and removes what earlier sources built there. Returns where the build
 * now is: in place; or, when another process put its own there first, that one; or, when it cannot be moved at all (a
 * read-only or full disk), still at `partial`, where the caller uses it once. Nothing here fails a test.
 */
export function keep(kind: string, partial: string, name: string): string {
  const dir = join(ROOT, '.rotator', kind);
  const final = join(dir, name);
  try {
    renameSync(partial, final);
  } catch {
    if (!existsSync(final)) return partial;
    rmSync(partial, { recursive: true, force: true });
  }
  try {
    for (const old of readdirSync(dir))
      if (old !== name && !old.endsWith('.tmp')) rmSync(join(dir, old), { recursive: true, force: true });
  } catch {
    // Left for the next build to remove.
  }
  return final;
}

/** Where a build of `kind` writes before keep() moves it into place: its own name, so builds beside it never collide. */
export function partialPath(kind: string, name: string): string {
  const dir = join(ROOT, '.rotator', kind);
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.${process.pid}.${Date.now()}.tmp`);
}

let compiled: string | undefined;
/**
 * The JavaScript of `entry` (a `.ts` path relative to the repository), for a test to start as a process of its own with
 * node alone: tsx would spend about a CPU-second per process resolving and transpiling, and the fault harnesses start
 * about 190 worker processes a run. Transpiled once per run (esbuild, the transpiler tsx uses, with the same
 * tsconfig.json), every product and test-support file in the same layout under `.rotator/js/<key>/`: paths found from
 * `__dirname` still lead to the same files, and packages resolve from the repository's node_modules.
 */
export function compiledScript(entry: string): string {
  compiled ??= compileTree();
  return join(compiled, entry.replace(/\.ts$/, '.js'));
}

function compileTree(): string {
  const dirs = [...PRODUCT_SOURCES, 'test/support'];
  const key = sourceKey({ files: ['package-lock.json', 'tsconfig.json', 'test/support/build-cache.ts'], dirs });
  const final = join(ROOT, '.rotator', 'js', key);
  if (existsSync(final)) return final;
  const partial = partialPath('js', key);
  const entryPoints = dirs.flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(ROOT, dir, f)),
  );
  // Loaded here, not at the top: only tests that start processes need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildSync } = require('esbuild') as typeof import('esbuild');
  buildSync({
    entryPoints,
    outdir: partial,
    outbase: ROOT,
    format: 'cjs',
    platform: 'node',
    target: 'node24',
    // `await import('./x')` becomes a require, as in tsc's commonjs output: node's import() would not find `./x.js`.
    supported: { 'dynamic-import': false },
    logLevel: 'error',
  });
  return keep('js', partial, key);
}
