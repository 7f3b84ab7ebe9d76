// How a secret's recent rotations went, from Temporal's visibility: the sweep's `failing` and `needs-human`.
import type { Client } from '@temporalio/client';
import {
  ROTATE_SECRET,
  SEARCH_ATTRIBUTES,
  workflowIdFor,
  type FinishRevoke,
  type Outcome,
  type RotationStatus,
} from '../../workflows/definitions';
import { STUCK_OUTCOMES } from '../../workflows/lifecycle-definitions';
import { eachLimited } from '../kernel/concurrency';
import { closedStatus } from './rotations';

export interface Standing {
  /** Closed rotations in a row, newest first, that did not succeed. */
  consecutiveFailures: number;
  lastOutcome: Outcome | null;
  lastEndedAt: number | null;
  /** When the last rotation ended `revoke-incomplete` with a credential left valid: what the sweep withdraws. */
  revokeToFinish?: FinishRevoke | null;
}

/**
 * A secret waits for a person after `attempts` failed rotations in a row, or once one left something half-done that
 * another try cannot mend. A revoke left unfinished is not that: the sweep finishes it, within the same `attempts`.
 */
export function needsHuman(standing: Standing, attempts: number): boolean {
  if (standing.consecutiveFailures >= attempts) return true;
  if (standing.lastOutcome === 'revoke-incomplete' && standing.revokeToFinish) return false;
  return STUCK_OUTCOMES.includes(standing.lastOutcome ?? '');
}

/** What a `revoke-incomplete` rotation left valid, from its final status; null when there is nothing to withdraw. */
export function leftValid(status: RotationStatus): FinishRevoke | null {
  if (status.outcome !== 'revoke-incomplete') return null;
  if (status.strategy === 'alternating-users' && status.previousUsername && status.previousUsername !== status.username)
    return { rotationId: status.rotationId, username: status.previousUsername };
  if ((status.strategy === 'dual-password' || status.strategy === 'issued') && status.previousVersion)
    return { rotationId: status.rotationId, version: status.previousVersion };
  return null;
}

const PREFIX = workflowIdFor('');

interface ClosedRun {
  secret: string;
  workflowId: string;
  runId: string;
  ok: boolean;
  /** Completed without rotating: a person rejected or cancelled it, or its approval lapsed. Not a failure either. */
  decided: boolean;
  closedAt: number;
}

/**
 * The standing of every secret that rotated in the last `sinceMs`, from one visibility scan of closed rotations
 * (paged by the server), so a sweep over 10,000 secrets costs one query, not 10,000. Secrets with no closed rotation
 * in that time are absent. Outcomes are read from history only for the newest run of a failing secret.
 */
export async function standings(
  client: Client,
  sinceMs: number,
  options: { now?: number; only?: ReadonlySet<string> } = {},
): Promise<Map<string, Standing>> {
  const now = options.now ?? Date.now();
  const since = new Date(now - sinceMs).toISOString();
  const byId = new Map<string, ClosedRun[]>();
  const query = `WorkflowType = '${ROTATE_SECRET}' AND ExecutionStatus != 'Running' AND CloseTime > '${since}'`;
  for await (const wf of client.workflow.list({ query })) {
    if (!wf.workflowId.startsWith(PREFIX) || !wf.closeTime) continue;
    const secret = wf.workflowId.slice(PREFIX.length);
    // Other deployments' secrets share the namespace: their histories are not ours to read (nor, often, to decrypt).
    if (options.only && !options.only.has(secret)) continue;
    // A rejected or expired rotation completes too, and one cancelled before any change fails: its search attribute
    // says which (runs started without one, by older clients or by a parent workflow, count as visibility says).
    const outcome = wf.typedSearchAttributes.get(SEARCH_ATTRIBUTES.outcome);
    const run = {
      secret,
      workflowId: wf.workflowId,
      runId: wf.runId,
      ok: wf.status.name === 'COMPLETED' && (outcome === undefined || outcome === 'succeeded'),
      decided: outcome === 'rejected' || outcome === 'expired' || outcome === 'cancelled',
      closedAt: wf.closeTime.getTime(),
    };
    byId.set(run.secret, [...(byId.get(run.secret) ?? []), run]);
  }
  const out = new Map<string, Standing>();
  // One history read per failing secret: a bounded few at a time, however many fail at once.
  await eachLimited([...byId], 16, async ([secret, runs]) => {
    runs.sort((a, b) => b.closedAt - a.closedAt);
    const firstOk = runs.findIndex((r) => r.ok);
    const consecutiveFailures = (firstOk === -1 ? runs : runs.slice(0, firstOk)).filter((r) => !r.decided).length;
    const newest = runs[0]!;
    let lastOutcome: Outcome | null = newest.ok ? 'succeeded' : null;
    let revokeToFinish: FinishRevoke | null = null;
    if (!newest.ok) {
      const handle = client.workflow.getHandle(newest.workflowId, newest.runId, { followRuns: false });
      // A history this client cannot read (another codec key) still counts as the failure visibility says it was.
      const ended = await closedStatus(handle).catch(() => null);
      lastOutcome = ended?.status.outcome ?? 'failed';
      revokeToFinish = ended ? leftValid(ended.status) : null;
    }
    out.set(secret, { consecutiveFailures, lastOutcome, lastEndedAt: newest.closedAt, revokeToFinish });
  });
  return out;
}
