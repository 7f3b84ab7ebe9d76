// docs/troubleshooting.md lists every code rotator prints and every outcome a rotation ends with: this compares its
// sections with the source, so a code added without an entry fails here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../src/cli/context';
import { ERROR_CODES } from '../src/kernel/errors';

const ROOT = path.resolve(__dirname, '..');
const PAGE = path.join(ROOT, 'docs/troubleshooting.md');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** The `### NAME` headings of the page (a heading may add words after the name, e.g. `### NOT_FOUND (exit 4)`). */
function documented(): Set<string> {
  const page = fs.readFileSync(PAGE, 'utf8');
  return new Set([...page.matchAll(/^### `?([A-Za-z][A-Za-z_-]*)`?/gm)].map((m) => m[1]));
}

/** Codes the CLI prints besides ERROR_CODES: every `code: 'X'` it writes, and the names of its exit codes. */
function cliCodes(): string[] {
  const literal = sourceFiles(path.join(ROOT, 'src/cli')).flatMap((f) =>
    [...fs.readFileSync(f, 'utf8').matchAll(/\bcode: '([A-Z][A-Z_]*)'/g)].map((m) => m[1]),
  );
  const exits = Object.keys(EXIT).filter((name) => name !== 'OK');
  return [...new Set([...literal, ...exits])];
}

/** The members of `export type Outcome = | 'a' | 'b' …;` in workflows/definitions.ts. */
function outcomes(): string[] {
  const src = fs.readFileSync(path.join(ROOT, 'workflows/definitions.ts'), 'utf8');
  const union = /export type Outcome =([^;]*);/.exec(src);
  if (!union) throw new Error('workflows/definitions.ts: export type Outcome not found');
  return [...union[1].matchAll(/'([a-z-]+)'/g)].map((m) => m[1]);
}

describe('docs/troubleshooting.md', () => {
  const sections = documented();

  test('has a section for every error code in src/kernel/errors.ts', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(5);
    expect(ERROR_CODES.filter((code) => !sections.has(code))).toEqual([]);
  });

  test('has a section for every code the CLI prints and every exit code name', () => {
    const codes = cliCodes();
    expect(codes).toEqual(expect.arrayContaining(['ALREADY_RUNNING', 'UNAVAILABLE', 'BAD_ARGUMENT']));
    expect(codes.filter((code) => !sections.has(code))).toEqual([]);
  });

  test('has a section for every outcome a rotation ends with', () => {
    const all = outcomes();
    expect(all).toEqual(expect.arrayContaining(['rolled-back', 'rollback-incomplete', 'revoke-incomplete']));
    expect(all.filter((outcome) => !sections.has(outcome))).toEqual([]);
  });

  test('documents nothing the source no longer has', () => {
    const known = new Set<string>([...ERROR_CODES, ...cliCodes(), ...outcomes()]);
    expect([...sections].filter((name) => !known.has(name))).toEqual([]);
  });
});
