// The README stays a front door (at most 250 lines) whose map names every room of the tree, and no page sends a reader
// to a file or a heading that is not there: every relative link of README.md, docs/*.md and the examples' READMEs
// resolves to a file or folder of the repository, and a `#fragment` to a heading of the page it names.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const README = path.join(ROOT, 'README.md');

function pages(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join(ROOT, 'docs', name));
  const examples = ['examples/README.md', 'examples/reader-app/README.md'].map((p) => path.join(ROOT, p));
  return [README, ...docs, ...examples.filter((p) => fs.existsSync(p))];
}

/** The page's text outside fenced code blocks, with inline code spans blanked (they hold brackets that are no links). */
function prose(file: string): string[] {
  let fenced = false;
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      if (line.startsWith('```')) {
        fenced = !fenced;
        return [];
      }
      return fenced ? [] : [line.replace(/`[^`]*`/g, '``')];
    });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  let fenced = false;
  const found = new Set<string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) found.add(slug(heading[1].trim()));
  }
  return found;
}

/** Every `[text](target)` of a page whose target is relative (no scheme, not mailto). */
function relativeLinks(file: string): string[] {
  return prose(file).flatMap((line) =>
    [...line.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t)),
  );
}

describe('README.md and docs/', () => {
  test('README.md has at most 250 lines', () => {
    const lines = fs.readFileSync(README, 'utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    expect(lines.length).toBeLessThanOrEqual(250);
  });

  test('every relative link resolves to a file, and every #fragment to a heading of its page', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of pages()) {
      for (const link of relativeLinks(file)) {
        checked++;
        const [target, fragment] = link.split('#', 2);
        const resolved = target === '' ? file : path.resolve(path.dirname(file), decodeURI(target));
        const where = `${path.relative(ROOT, file)}: ${link}`;
        if (!fs.existsSync(resolved)) broken.push(`${where} (no such file)`);
        else if (fragment && resolved.endsWith('.md') && !anchors(resolved).has(fragment)) {
          broken.push(`${where} (no such heading)`);
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });

  test("the README's map names every room of the tree", () => {
    const readme = fs.readFileSync(README, 'utf8');
    const dirs = (parent: string) =>
      fs
        .readdirSync(path.join(ROOT, parent), { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => `${parent}/${e.name}/`);
    const rooms = [
      ...['src', 'activities', 'workflows', 'deploy', 'test'].flatMap(dirs),
      ...fs
        .readdirSync(path.join(ROOT, 'workflows'))
        .filter((name) => name.endsWith('.ts'))
        .map((name) => `workflows/${name}`),
      'workers/',
      'examples/',
      'scripts/',
    ];
    expect(rooms.length).toBeGreaterThan(30);
    expect(rooms.filter((room) => !readme.includes(`\`${room}`))).toEqual([]);
  });
});
