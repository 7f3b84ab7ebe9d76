// massRotation: `rotator rotate --all | --selector`. Starts one rotateSecret child per selected secret (its own id
// `rotate/<secret>`, so one rotation per secret still holds), at most maxConcurrent in flight, each plan carrying the
// write budget its store's writes take tokens from (workflows/write-budget.ts). Runs on without the CLI that started
// it; its result is the outcome of every secret, which the next run of the same selection reads to skip what succeeded.
import { condition, continueAsNew, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { MassActivities } from '../activities/mass-rotation';
import { rotateAsChild } from './lib/child-rotation';
import { describeFailure } from './lib/failures';
import { SHORT_IO } from './lib/policies';
import {
  massProgressQuery,
  type MassEntry,
  type MassOutcome,
  type MassProgress,
  type MassResult,
  type MassRotationInput,
} from './mass-definitions';

const mass = proxyLocalActivities<MassActivities>(SHORT_IO);

/** Past this many events, no new rotation starts: the run drains and continues as new with the outcomes so far. */
const HISTORY_LIMIT = 9_000;

export async function massRotation(input: MassRotationInput): Promise<MassResult> {
  const startedAt = input.carried?.startedAt ?? Date.now();
  const results: Record<string, MassEntry> = { ...(input.carried?.results ?? {}) };
  const done = new Set(input.done);
  for (const secret of input.secrets) if (done.has(secret) && !results[secret]) results[secret] = { outcome: 'already-done' };
  const budgets: Record<string, number> = {};
  let running = 0;

  const progress = (): MassProgress => {
    const counts: Partial<Record<MassOutcome, number>> = {};
    for (const entry of Object.values(results)) counts[entry.outcome] = (counts[entry.outcome] ?? 0) + 1;
    const ended = Object.keys(results).length;
    return {
      selector: input.selector,
      total: input.secrets.length,
      waiting: input.secrets.length - ended - running,
      running,
      counts,
      startedAt,
      endedAt: null,
      budgets,
    };
  };
  setHandler(massProgressQuery, progress);

  const rotations: Promise<void>[] = [];
  let drainForNewRun = false;
  for (const secret of input.secrets) {
    if (results[secret]) continue;
    await condition(() => running < input.maxConcurrent);
    if (workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested) {
      drainForNewRun = true;
      break;
    }
    running++;
    rotations.push(
      mass
        .massPlan(secret)
        .then(async (plan) => {
          if (plan.writeBudget) budgets[plan.writeBudget.key] = plan.writeBudget.perSecond;
          const r = await rotateAsChild(plan, input.requestedBy);
          results[secret] = {
            outcome: r.outcome,
            rotationId: r.rotationId,
            ...(r.code ? { code: r.code } : {}),
            ...(r.error ? { error: r.error } : {}),
          };
        })
        // One secret's bad plan must not stop the others; its failure is in the results.
        .catch((err: unknown) => {
          const f = describeFailure(err);
          results[secret] = { outcome: 'failed', rotationId: null, code: f.code, error: f.message };
        })
        .finally(() => void running--),
    );
  }
  await Promise.all(rotations);
  if (drainForNewRun) await continueAsNew<typeof massRotation>({ ...input, carried: { results, startedAt } });
  return { ...progress(), endedAt: Date.now(), results };
}
