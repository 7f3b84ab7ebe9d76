// `coalesceRollout`: one per workload, it restarts the workload once for every secret that asked within a window.
// Rotations of secrets a workload consumes together (a mass rotation, schedules that line up) each signal-with-start
// it with "restart for version V of secret S"; it gathers the requests for the consumer's `coalesce` window, restarts
// the workload once with every requested version on the pod template, waits for that rollout, and answers each
// requester: rolled out, or the failure. A rotation goes on only on its answer, so none outruns its readers. Idle,
// it ends; busy, it continues as new every few restarts, so its history stays small.
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { CoalesceActivities } from '../activities/consumers/rollout/public';
import { describeFailure } from './lib/failures';
import { DEFAULT_OUTAGE_TOLERANCE_MS, heartbeatingWait, IRREVERSIBLE } from './lib/policies';
import {
  restartAnswer,
  restartRequest,
  type CoalesceRolloutInput,
  type RestartAnswer,
  type RestartRequest,
} from './rollout-coordinator-definitions';

/** How long an idle coordinator waits for another request before it ends (the next request starts a new run). */
const LINGER_MS = 10_000;
/** Restarts per run before it continues as new (each one is a dozen events, plus a signal per request). */
const RESTARTS_PER_RUN = 20;

/** The restart: a patch of the pod template, retried through an API server hiccup like any regular step. */
const restarter = proxyActivities<CoalesceActivities>(IRREVERSIBLE);

export async function coalesceRollout(input: CoalesceRolloutInput): Promise<void> {
  const pending: RestartRequest[] = [...input.pending];
  setHandler(restartRequest, (request) => {
    // A request sent again (the asking step run again after a worker died) is already waiting: one entry.
    if (!pending.some((p) => p.id === request.id)) pending.push(request);
  });
  for (let restarts = 0; ; restarts++) {
    if (!(await condition(() => pending.length > 0, LINGER_MS))) return;
    if (restarts >= RESTARTS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof coalesceRollout>({ pending: pending.splice(0) });
    }
    // The window opens with the first request: every request that comes within it shares the one restart.
    await sleep(Math.max(...pending.map((p) => p.windowMs)));
    const batch = pending.splice(0);
    const answers = await restartOnce(batch);
    for (const [i, request] of batch.entries()) {
      try {
        await getExternalWorkflowHandle(request.requester).signal(restartAnswer, answers[i]);
      } catch {
        // The requester is gone (cancelled, terminated): nobody waits for this answer.
      }
    }
  }
}

/** One restart naming every requested version, then its rollout; an answer per request, the same truth for each. */
async function restartOnce(batch: RestartRequest[]): Promise<RestartAnswer[]> {
  // The newest request per secret (one rotation per secret at a time, so a second is the same rotation asking again).
  const versions: Record<string, string> = {};
  for (const r of batch) versions[r.secret] = r.value;
  const { consumer, workload } = batch[0];
  const timeoutMs = Math.max(...batch.map((r) => r.timeoutMs));
  const toleranceMs = Math.max(...batch.map((r) => r.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS));
  const answer = (a: Omit<RestartAnswer, 'id' | 'versions'>) => batch.map((r) => ({ id: r.id, versions, ...a }));
  try {
    const startedAt = Date.now();
    const { generation } = await restarter.restartTogether({ consumer, workload, versions });
    await proxyActivities<CoalesceActivities>(heartbeatingWait(timeoutMs)).awaitWorkloadRollout({
      consumer,
      workload,
      startedAt,
      timeoutMs,
      toleranceMs,
    });
    return answer({ ok: true, generation, message: `rolled out (generation ${generation})` });
  } catch (err) {
    const { code, message } = describeFailure(err);
    return answer({ ok: false, code, message });
  }
}
