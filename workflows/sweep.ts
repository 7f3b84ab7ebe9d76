// sweep: assess every configured secret, start rotations for what is due (capped in concurrency and rate), and
// leave a report. Started by its Schedule; a second sweep while one runs is skipped by the Schedule's overlap rule.
import { condition, proxyActivities, proxyLocalActivities, setHandler, sleep } from '@temporalio/workflow';
import type { LifecycleActivities } from '../activities/lifecycle';
import type { KeeperControlActivities } from '../activities/lease-keeper';
import { sweepStatusQuery, type SweepReport, type SweepStart } from './lifecycle-definitions';
import { rotateAsChild } from './lib/child-rotation';
import { describeFailure } from './lib/failures';
import { ASSESS, SHORT_IO } from './lib/policies';

const lifecycle = proxyLocalActivities<LifecycleActivities>(SHORT_IO);
/** Reading every store takes a while at 10,000 secrets: a regular activity that heartbeats its progress. */
const assessor = proxyActivities<LifecycleActivities>(ASSESS);
const keepers = proxyLocalActivities<KeeperControlActivities>(SHORT_IO);

export async function sweep(): Promise<SweepReport> {
  let report: SweepReport | null = null;
  setHandler(sweepStatusQuery, () => report);
  const assessment = await assessor.assessSecrets();
  const started: SweepStart[] = [];
  report = {
    at: Date.now(),
    assessed: assessment.assessed,
    counts: assessment.counts,
    notOk: assessment.notOk,
    started,
    peakConcurrent: 0,
    problems: [],
  };
  for (const secret of assessment.keepersToStart) {
    // One keeper that cannot start must not stop the sweep of everything else; the report says so.
    await keepers.ensureKeeper(secret).catch((err: unknown) => {
      report!.problems.push(`${secret}: starting its keeper failed: ${describeFailure(err).message}`);
    });
  }

  const { max_concurrent: maxConcurrent, rate } = assessment.sweep;
  let running = 0;
  const rotations: Promise<void>[] = [];
  // Revokes earlier rotations left unfinished go first (absent from assessments of sweeps before they existed).
  const work = [...(assessment.revokesToFinish ?? []), ...assessment.due.map((secret) => ({ secret, finish: undefined }))];
  for (const { secret, finish } of work) {
    await condition(() => running < maxConcurrent);
    // At most `rate.starts` in any `rate.per`: wait until the oldest start of the last `starts` leaves the window.
    const oldest = started.at(-rate.starts);
    if (oldest && Date.now() < oldest.at + rate.per) await sleep(oldest.at + rate.per - Date.now());
    const entry: SweepStart = { secret, at: Date.now(), outcome: 'running', ...(finish ? { finishesRevoke: true } : {}) };
    started.push(entry);
    running++;
    report.peakConcurrent = Math.max(report.peakConcurrent, running);
    rotations.push(
      lifecycle
        .planFor(secret)
        .then((plan) => rotateAsChild(plan, 'sweep', finish))
        .then((r) => {
          entry.outcome = r.outcome;
          if (r.error) entry.error = r.error;
        })
        // One secret's bad plan must not stop the sweep of the others; its failure shows in the report.
        .catch((err: unknown) => {
          entry.outcome = 'failed';
          entry.error = describeFailure(err).message;
        })
        .finally(() => void running--),
    );
  }
  await Promise.all(rotations);
  return report;
}
