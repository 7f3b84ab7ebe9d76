// What CI's verdict rests on: the closing line `.ci/run` prints from jest's --json results (and its exit code), and the
// local stack's stop, which must keep the process alive until its servers are gone, or jest exits 0 before it has
// written its results or reported a failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-ci-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A jest --json results file: `tests` maps each suite to the statuses of its tests (none: it failed to run). */
function results(tests: Record<string, string[]>, neverRan = 0): string {
  const all = Object.values(tests).flat();
  const count = (status: string) => all.filter((s) => s === status).length;
  const suites = Object.entries(tests).map(([name, statuses]) => ({
    name,
    status: statuses.length === 0 || statuses.includes('failed') ? 'failed' : 'passed',
    assertionResults: statuses.map((status) => ({ status })),
  }));
  const failedSuites = suites.filter((s) => s.status === 'failed').length;
  const file = join(dir, `results-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      success: failedSuites === 0,
      numPassedTests: count('passed'),
      numFailedTests: count('failed'),
      numPendingTests: count('pending'),
      numTodoTests: 0,
      numTotalTestSuites: suites.length + neverRan,
      numPassedTestSuites: suites.length - failedSuites,
      numPendingTestSuites: 0,
      numFailedTestSuites: failedSuites,
      numRuntimeErrorTestSuites: suites.filter((s) => s.assertionResults.length === 0).length,
      testResults: suites,
    }),
  );
  return file;
}

function summary(file: string, lintStatus?: string | null): { line: string; code: number | null } {
  const args = [join(ROOT, '.ci/summary.js'), file];
  if (lintStatus !== undefined) {
    const lintFile = join(dir, `lint-${Math.random().toString(36).slice(2)}`);
    if (lintStatus !== null) writeFileSync(lintFile, `${lintStatus}\n`);
    args.push(lintFile);
  }
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { line: r.stdout.trim(), code: r.status };
}

describe('the closing line of .ci/run', () => {
  it('counts passed, failed and skipped tests, and passes the run only when nothing failed', () => {
    expect(summary(results({ 'a.test.ts': ['passed', 'passed'], 'b.test.ts': ['passed', 'pending'] }))).toEqual({
      line: '3 passed, 0 failed, 1 skipped',
      code: 0,
    });
    expect(summary(results({ 'a.test.ts': ['passed', 'failed'], 'b.test.ts': ['passed'] }))).toEqual({
      line: '2 passed, 1 failed, 0 skipped',
      code: 1,
    });
  });

  it('fails the run for a suite that failed to run, naming it, though no test of it failed', () => {
    expect(summary(results({ 'a.test.ts': ['passed'], 'broken.test.ts': [] }))).toEqual({
      line: '1 passed, 0 failed, 0 skipped, 1 suite failed to run\n  failed to run: broken.test.ts',
      code: 1,
    });
  });

  it('fails the run when a suite jest found never ended, though every suite that ran passed', () => {
    const file = results({ 'a.test.ts': ['passed'] }, 2);
    // As jest reports it when a runner stops before handing back every file: success stays true.
    expect(summary(file)).toEqual({ line: '1 passed, 0 failed, 0 skipped\n  2 suites never ran', code: 1 });
  });

  it('fails the run when the lint beside the tests failed or never finished, saying so, though every test passed', () => {
    const file = results({ 'a.test.ts': ['passed'] });
    expect(summary(file, '0')).toEqual({ line: '1 passed, 0 failed, 0 skipped', code: 0 });
    expect(summary(file, '2')).toEqual({
      line: '1 passed, 0 failed, 0 skipped, the lint failed (exit 2; npm run lint)',
      code: 1,
    });
    expect(summary(file, null)).toEqual({ line: '1 passed, 0 failed, 0 skipped, the lint never finished', code: 1 });
  });

  it('fails the run when jest wrote no results, saying so', () => {
    const { line, code } = summary(join(dir, 'missing.json'));
    expect(line).toMatch(/^no test results: jest ended without writing .*missing\.json \(ENOENT\); counted as failed$/);
    expect(code).toBe(1);
  });
});

describe("the local stack's stop of a server", () => {
  // A server that ignores SIGTERM until the SIGKILL after the grace period: the process that stops it must still be
  // alive to go on afterwards (here: print and exit 3), not exit 0 with the stop pending.
  it('keeps the process alive until a server that ignores SIGTERM is gone', () => {
    const ready = join(dir, 'ready');
    const script = `
      const fs = require('node:fs');
      const { spawn } = require('node:child_process');
      const { stopChild } = require(${JSON.stringify(join(ROOT, 'src/stack/stop-child'))});
      const child = spawn('sh', ['-c', 'trap "" TERM; touch ${ready}; while :; do sleep 0.05; done'], { stdio: 'ignore' });
      child.unref();
      const stop = stopChild(child, 300);
      const poll = () => (fs.existsSync(${JSON.stringify(ready)}) ? stop().then(() => { console.log('stopped'); process.exitCode = 3; }) : setTimeout(poll, 20));
      poll();`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect({ stdout: r.stdout.trim(), code: r.status }).toEqual({ stdout: 'stopped', code: 3 });
  });
});
