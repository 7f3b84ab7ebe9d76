// The register of patched() ids (workflows/lib/patches.ts) is the whole truth: every id the workflow code asks is
// registered, every registered id is asked, each says when it can be retired, and the replay fixtures hold its
// marker from the set it names on (the newest set too, so the tests replay the patched branch of each).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ASKED_WHERE_THEY_BRANCH, PATCHES, type PatchEntry } from '../workflows/lib/patches';
import { FIXTURES, markersPastFirstTask, patchMarkers, type FixtureHistory } from './replay/fixtures';

const WORKFLOWS = path.resolve(__dirname, '../workflows');
const REGISTER = path.join(WORKFLOWS, 'lib/patches.ts');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [full] : [];
  });
}

/** Source without its comments (a comment may name patched() without asking it). */
function code(file: string): string {
  return fs
    .readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** Where workflow code asks Temporal itself, bypassing the register: `file: what`. */
function unregisteredAsks(files: string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    if (file === REGISTER) continue;
    const text = code(file);
    const rel = path.relative(WORKFLOWS, file);
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@temporalio\/workflow'/g))
      for (const name of m[1].split(',').map((n) => n.trim().split(/\s+as\s+/)[0]))
        if (name === 'patched' || name === 'deprecatePatch') found.push(`${rel}: imports ${name} from @temporalio/workflow`);
    for (const m of text.matchAll(/\.(patched|deprecatePatch)\s*\(/g)) found.push(`${rel}: calls .${m[1]}()`);
    for (const m of text.matchAll(/\bdeprecatePatch\s*\(/g)) found.push(`${rel}: calls ${m[0]})`);
  }
  return found;
}

/**
 * The ids asked by `patched(...)` or `patchedOnce(..., taken)` in the files; a first argument that is not one quoted id
 * is reported as such.
 */
function askedIds(files: string[]): { ids: Set<string>; unreadable: string[] } {
  const ids = new Set<string>();
  const unreadable: string[] = [];
  for (const file of files) {
    if (file === REGISTER) continue;
    for (const m of code(file).matchAll(/\b(patched(?:Once)?)\s*\(([^,)]*)[,)]/g)) {
      const literal = /^\s*'([a-z0-9-]+)'\s*$/.exec(m[2]);
      if (literal) ids.add(literal[1]);
      else unreadable.push(`${path.relative(WORKFLOWS, file)}: ${m[1]}(${m[2]})`);
    }
  }
  return { ids, unreadable };
}

/** The histories of fixture set `set`, by file name. */
function fixturesOf(set: string): Array<[string, FixtureHistory]> {
  const dir = path.join(FIXTURES, set);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [`${set}/${f}`, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as FixtureHistory]);
}

/** The patch ids whose markers the histories of fixture set `set` hold. */
function markersIn(set: string): Set<string> {
  return new Set(fixturesOf(set).flatMap(([, history]) => patchMarkers(history).map((m) => m.id)));
}

const files = sources(WORKFLOWS);
const registered = Object.keys(PATCHES);
const sets = fs
  .readdirSync(FIXTURES)
  .filter((d) => /^v\d+$/.test(d))
  .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));

describe('the register of patched() ids', () => {
  it('is the only way workflow code asks for a patch', () => {
    expect(unregisteredAsks(files)).toEqual([]);
    expect(askedIds(files).unreadable).toEqual([]);
  });

  it('registers every id the code asks, and the code asks every registered id', () => {
    const { ids } = askedIds(files);
    expect([...ids].sort()).toEqual([...registered].sort());
  });

  it('says for each id when it can be deprecated and when removed', () => {
    for (const [id, entry] of Object.entries(PATCHES) as Array<[string, PatchEntry]>) {
      expect({ id, deprecateWhen: entry.deprecateWhen.length > 20 }).toEqual({ id, deprecateWhen: true });
      expect({ id, removeWhen: entry.removeWhen.length > 20 }).toEqual({ id, removeWhen: true });
      expect({ id, since: /^[0-9a-f]{7,40}$/.test(entry.since) }).toEqual({ id, since: true });
    }
  });

  it('names for each id the first fixture set holding its marker, and the newest set holds them all', () => {
    const markers = new Map(sets.map((set) => [set, markersIn(set)]));
    const first = (id: string) => sets.find((set) => markers.get(set)!.has(id)) ?? '(none)';
    const named = Object.fromEntries(registered.map((id) => [id, PATCHES[id as keyof typeof PATCHES].firstFixtureSet]));
    expect(Object.fromEntries(registered.map((id) => [id, first(id)]))).toEqual(named);
    // The newest set recorded whole (npm run fixtures:record), with the feature sets recorded after it, holds them all.
    const whole = sets.filter((set) => fs.existsSync(path.join(FIXTURES, set, 'alternating-users-succeeded.json'))).at(-1)!;
    const recent = new Set(sets.slice(sets.indexOf(whole)).flatMap((set) => [...markers.get(set)!]));
    // A rotation that took asked-at-start asks the ids before it no more: the older sets replay their branches.
    const asked = recent.has('asked-at-start')
      ? registered.filter((id) => !ASKED_WHERE_THEY_BRANCH.has(id as never))
      : registered;
    expect([...recent].sort()).toEqual([...asked].sort());
  });

  it('finds every patch marker of a rotation that took asked-at-start in its first workflow task', () => {
    const histories = sets.flatMap(fixturesOf);
    const took = histories.filter(([, h]) => patchMarkers(h).some((m) => m.id === 'asked-at-start'));
    expect(took.length).toBeGreaterThan(10);
    expect(took.flatMap(([file, h]) => markersPastFirstTask(h).map((m) => `${file}: ${m}`))).toEqual([]);
    // The check sees a marker past the first task: followed by the v6 single-user history, which asks cancel-at-commit
    // at its commit point, a history that took asked-at-start has one.
    const [, before] = histories.find(([file]) => file === 'v6/single-user-succeeded.json')!;
    const [, took1] = took.find(([file]) => file.endsWith('/single-user-succeeded.json'))!;
    const joined = { events: [...(took1.events ?? []), ...(before.events ?? [])] };
    const tasks = (took1.events ?? []).filter((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED').length;
    expect(markersPastFirstTask(joined)).toContain(`cancel-at-commit (workflow task ${tasks + 1})`);
    // Task 2 counts too: the first task of the history after it is this one's second.
    const second = { events: (took1.events ?? []).slice(0, 5).concat(before.events ?? []) };
    expect(markersPastFirstTask(second)).toContain('consumer-steps (workflow task 2)');
  });

  it('catches a workflow that asks Temporal directly or asks an id by a variable', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patches-'));
    const file = path.join(dir, 'stray.ts');
    fs.writeFileSync(
      file,
      "import { patched as p, sleep } from '@temporalio/workflow';\n" +
        "// patched('in-a-comment') is not asked\n" +
        "export async function stray(id: string) { if (p('x')) await sleep(1); return patched(id); }\n",
    );
    try {
      expect(unregisteredAsks([file])).toEqual([`${path.relative(WORKFLOWS, file)}: imports patched from @temporalio/workflow`]);
      expect(askedIds([file])).toEqual({ ids: new Set(), unreadable: [`${path.relative(WORKFLOWS, file)}: patched(id)`] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
