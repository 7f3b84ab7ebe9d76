// The revoke phase: withdraw the credential the rotation replaced, once readers had their grace period. Also what
// the sweep starts for a `revoke-incomplete` rotation: the same steps, with the same checks in the activities.
import { sleep } from '@temporalio/workflow';
import type { Inspection, RotationActivities } from '../../activities/rotation';
import type { FinishRevoke } from '../definitions';
import { readerNotes } from '../lib/readers';
import type { Rotation } from './context';
import { patched } from '../lib/patches';

/** alternating-users: drops the old login of the pair once its sessions drained (or the drain timed out). */
export async function revokeOldLogin(r: Rotation, found: Inspection): Promise<void> {
  const { status } = r;
  const old = found.revokeUsername;
  if (!old) {
    status.notes.push(
      found.currentUsername
        ? `previous login ${found.currentUsername} is not one of the pair; left as is`
        : 'first rotation: nothing to revoke',
    );
    return;
  }
  await graceThenReaders(r);
  // Usually nothing is left: one quick look; only open sessions need the long, heartbeating wait. The look only reads,
  // so it runs locally (lean-revoke): it rides out an outage for the plan's outage tolerance, at least as long as the
  // regular activity it was under durable-drain-check (that one costs two round trips through the server).
  const look = patched('durable-drain-check') && !patched('lean-revoke') ? r.revoker : r.io;
  await withdrawLogin(r, old, { look, drain: true });
}

/** dual-password: withdraws the password of the version this rotation replaced. */
export async function revokeOldPassword(r: Rotation, found: Inspection): Promise<void> {
  const old = found.currentVersion;
  if (!old) {
    r.status.notes.push('first rotation: no earlier password of ours to withdraw');
    return;
  }
  await graceThenReaders(r);
  await withdrawPassword(r, old);
  r.status.revokedUsername = found.nextUsername;
}

/**
 * Withdraws what a `revoke-incomplete` rotation left valid (the sweep starts this). The same activities as revoke,
 * with the same checks: refused while the store publishes that credential or another rotation holds the secret.
 * No grace period and no drain wait: the rotation that left it had both.
 */
export async function finishEarlierRevoke(r: Rotation, left: FinishRevoke): Promise<void> {
  const { status } = r;
  status.notes.push(`finishing the revoke of rotation ${left.rotationId}`);
  if (left.username) {
    status.previousUsername = left.username;
    await withdrawLogin(r, left.username, { look: r.revoker, drain: false });
  } else if (left.version) {
    status.previousVersion = left.version;
    await withdrawPassword(r, left.version);
  }
}

/** Readers of the old credential get the grace period; the notes say which readers could still hold it. */
export async function graceThenReaders({ plan, status }: Rotation): Promise<void> {
  if (plan.gracePeriodMs > 0) await sleep(plan.gracePeriodMs);
  status.notes.push(...readerNotes(plan));
}

/**
 * A quick look for sessions of `old` (through `look`), with `drain` the long heartbeating wait while any are open and
 * the plan allows it, then the revoke, terminating what is still open if the plan says so.
 */
async function withdrawLogin(
  r: Rotation,
  old: string,
  { look, drain }: { look: RotationActivities; drain: boolean },
): Promise<void> {
  const { plan, rotationId, status } = r;
  let { remaining } = await look.waitForDrain(plan, { username: old, timeoutMs: 0 });
  if (drain) {
    if (remaining > 0 && plan.drain.timeoutMs > 0) ({ remaining } = await r.drainer.waitForDrain(plan, { username: old }));
    if (remaining > 0) status.notes.push(`${remaining} session(s) of ${old} still open after the drain timeout`);
  }
  const { terminatedSessions } = await r.revoker.revokeLogin(plan, {
    rotationId,
    username: old,
    terminateSessions: remaining > 0 && plan.drain.onTimeout === 'terminate',
  });
  r.revokedDurably = true;
  if (terminatedSessions > 0) status.notes.push(`terminated ${terminatedSessions} session(s) of ${old}`);
  status.revokedUsername = old;
}

async function withdrawPassword(r: Rotation, version: string): Promise<void> {
  const { plan, rotationId, status, revoker } = r;
  await revoker.removePassword(plan, { rotationId, version });
  r.revokedDurably = true;
  status.notes.push(`withdrew the password of version ${version}`);
}
