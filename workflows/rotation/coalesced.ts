// A rollout batch restarted through its workloads' coordinators (workflows/rollout-coordinator.ts): ask each for a
// restart onto this version, then wait for every answer. A restart shared with other secrets' rotations answers each
// of them alike, so this rotation goes on only once the restart that carries its version has rolled out.
import { ApplicationFailure, condition, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { CoalesceActivities } from '../../activities/consumers/rollout/public';
import type { RolloutStep } from '../../activities/reconnect';
import type { WorkloadRef } from '../../activities/types';
import { describeWorkload } from '../../src/kernel/workloads';
import { DEFAULT_OUTAGE_TOLERANCE_MS, forwardIo } from '../lib/policies';
import { restartAnswer, type RestartAnswer } from '../rollout-coordinator-definitions';
import type { Rotation } from './context';

/** Beyond the windows and rollouts waited for: room for the coordinator's restart and its answer. */
const ANSWER_SLACK_MS = 60_000;

/** Restarts `workloads` for `version` through their coordinators; the note to keep, or the first failure thrown. */
export async function coalescedBatch(
  r: Rotation,
  step: RolloutStep & { coalesceMs: number },
  workloads: WorkloadRef[],
  version: string,
): Promise<string> {
  const answers = new Map<string, RestartAnswer>();
  // Answers that came before the handler (none should: it is set before asking) wait buffered and arrive now.
  setHandler(restartAnswer, (a) => void answers.set(a.id, a));
  // Local, like the rotation's other forward steps: run again after a worker death, it sends the same requests.
  const asker = proxyLocalActivities<CoalesceActivities>(forwardIo(r.plan.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS));
  const ids = await asker.requestRestarts(r.plan, {
    consumer: step.consumer,
    workloads,
    value: version,
    rotationId: r.rotationId,
  });
  // A request that comes while the coordinator rolls out an earlier batch waits for that batch (its window and its
  // rollout), then for its own: two of each at most. (Only the timer's length changed: a replay does not compare it.)
  const answerWithinMs = 2 * (step.coalesceMs + step.timeoutMs) + ANSWER_SLACK_MS;
  const all = await condition(() => ids.every((id) => answers.has(id)), answerWithinMs);
  const notes: string[] = [];
  for (const [i, w] of workloads.entries()) {
    const a = answers.get(ids[i]);
    if (!all || !a) {
      throw ApplicationFailure.create({
        type: 'CONSUMER_FAILED',
        message: `the rollout coordinator of ${describeWorkload(w)} did not answer within ${Math.round(answerWithinMs / 1000)}s`,
        nonRetryable: true,
      });
    }
    if (!a.ok) throw ApplicationFailure.create({ type: a.code ?? 'CONSUMER_FAILED', message: a.message, nonRetryable: true });
    const others = Object.keys(a.versions).filter((s) => s !== r.plan.secret);
    notes.push(
      `${describeWorkload(w)} (generation ${a.generation ?? '?'}${others.length ? `, one restart with ${others.join(', ')}` : ''})`,
    );
  }
  return `rolled out ${notes.join(', ')}`;
}
