// CI's closing line, from jest's --json results: `node .ci/summary.js <results.json> [<lint-status>]` prints "N passed,
// M failed, K skipped" (and the suites that failed to run) and exits 1 when anything failed or when the file is
// missing, i.e. jest ended without writing its results: then nothing says the run passed, whatever jest's exit code
// was. With a lint-status file (the exit status of the lint that ran beside the tests, scripts/test.sh), a lint that
// failed or never finished is said on the line and fails the run too.
/* global process, console */
const fs = require('node:fs');

const [file, lintFile] = process.argv.slice(2);
if (!file) {
  console.error('usage: node .ci/summary.js <jest --json results file> [<lint status file>]');
  process.exit(2);
}
let results;
try {
  results = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (e) {
  console.log(`no test results: jest ended without writing ${file} (${e.code ?? e.message}); counted as failed`);
  process.exit(1);
}
const count = (key) => (Number.isInteger(results[key]) ? results[key] : 0);
// A suite that fails to run (a syntax error, a throw in beforeAll, a global setup) has no failed test of its own.
const brokenSuites = (results.testResults ?? []).filter(
  (s) => s.status === 'failed' && !(s.assertionResults ?? []).some((t) => t.status === 'failed'),
);
const parts = [
  `${count('numPassedTests')} passed`,
  `${count('numFailedTests')} failed`,
  `${count('numPendingTests') + count('numTodoTests')} skipped`,
];
let lintFailed = false;
if (lintFile) {
  let lint;
  try {
    lint = fs.readFileSync(lintFile, 'utf8').trim();
  } catch {
    lint = null;
  }
  lintFailed = lint !== '0';
  if (lint === null) parts.push('the lint never finished');
  else if (lintFailed) parts.push(`the lint failed (exit ${lint}; npm run lint)`);
}
if (brokenSuites.length > 0) parts.push(`${brokenSuites.length} suite${brokenSuites.length === 1 ? '' : 's'} failed to run`);
console.log(parts.join(', '));
for (const s of brokenSuites) console.log(`  failed to run: ${s.name}`);
// Every suite jest found must have ended one way or another: one that never ran (a lane that stopped) is no pass.
const ended = count('numPassedTestSuites') + count('numFailedTestSuites') + count('numPendingTestSuites');
if (ended < count('numTotalTestSuites')) console.log(`  ${count('numTotalTestSuites') - ended} suites never ran`);
const failed =
  lintFailed ||
  ended < count('numTotalTestSuites') ||
  results.success !== true ||
  count('numFailedTests') > 0 ||
  count('numFailedTestSuites') > 0 ||
  count('numRuntimeErrorTestSuites') > 0;
process.exit(failed ? 1 : 0);
