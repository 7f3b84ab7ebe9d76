// Client-side operations on rotations, shared by the CLI, the demo, the bench and the tests.
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { RotatorError } from '../kernel/errors';
import type { RotationPlan } from '../config/plan';
import { workflowIdFor } from '../config/plan';
import type { rotateSecret } from '../../workflows/rotate-secret';
import {
  approveUpdate,
  cancelUpdate,
  rejectUpdate,
  ROTATE_SECRET,
  SEARCH_ATTRIBUTES,
  statusQuery,
  type ApprovalRecord,
  type CancelRecord,
  type DecisionInput,
  type RotateSecretInput,
  type RotationStatus,
} from '../../workflows/definitions';

/**
 * How long a workflow task may take before the server hands it to another worker. It is also how long a rotation
 * stalls when its worker dies mid-task, which for single-user is how long the store's current password can be
 * refused (the new one is set, the promote not yet done). Our tasks take milliseconds: local activities heartbeat
 * the task at 80% of this, so no slow step can hit it. The server's default is 10 s.
 */
export const ROTATION_TASK_TIMEOUT = '3s';

export interface StartedRotation {
  handle: WorkflowHandle<typeof rotateSecret>;
  /** False when a rotation of this secret was already running and we attached to it instead. */
  started: boolean;
  /**
   * The run this call started (null when it attached): the one to name, since the workflow id's latest run may
   * already be another rotation's by the time anyone asks.
   */
  runId: string | null;
}

/** Starts a rotation, or finds the one already running: Temporal refuses a second run with the same workflow id. */
export async function startRotation(
  client: Client,
  taskQueue: string,
  plan: RotationPlan,
  requestedBy?: string,
): Promise<StartedRotation> {
  const workflowId = workflowIdFor(plan.secret);
  try {
    const input: RotateSecretInput = { plan, ...(requestedBy ? { requestedBy } : {}) };
    const handle = await client.workflow.start<typeof rotateSecret>(ROTATE_SECRET, {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowTaskTimeout: ROTATION_TASK_TIMEOUT,
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.secret, value: plan.secret },
        { key: SEARCH_ATTRIBUTES.outcome, value: 'running' },
        { key: SEARCH_ATTRIBUTES.trigger, value: requestedBy ?? 'api' },
        { key: SEARCH_ATTRIBUTES.strategy, value: plan.strategy },
      ],
    });
    return { handle, started: true, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw missingSearchAttribute(err, client) ?? err;
    return { handle: client.workflow.getHandle<typeof rotateSecret>(workflowId), started: false, runId: null };
  }
}

/** The one-line fix when the namespace lacks rotator's search attributes (a cluster set up before they existed). */
function missingSearchAttribute(err: unknown, client: Client): RotatorError | null {
  const text = `${(err as Error)?.message ?? ''} ${((err as { cause?: Error })?.cause?.message as string | undefined) ?? ''}`;
  // Worded one way by the server's validator, another by SQL visibility's per-namespace mapping.
  const m = /search attribute (\w+) is not defined|no mapping defined for search attribute (\w+)/i.exec(text);
  if (!m) return null;
  const missing = m[1] ?? m[2];
  const { namespace } = client.options;
  const create = Object.values(SEARCH_ATTRIBUTES)
    .map((k) => `--name ${k.name} --type Keyword`)
    .join(' ');
  return new RotatorError(
    'CONFIG_INVALID',
    `the Temporal namespace ${JSON.stringify(namespace)} has no search attribute ${missing}, which rotations carry; ` +
      `create them once: temporal operator search-attribute create --namespace ${namespace} ${create}`,
    'temporal.namespace',
  );
}

export type Decision = 'approve' | 'reject';

/**
 * Sends a person's decision to the rotation of `secret` waiting at its approval gate, and returns the gate as it then
 * stands. The workflow refuses it unless one is waiting (CONFLICT) or when `by`/`reason` are missing (CONFIG_INVALID).
 */
export async function decideRotation(
  client: Client,
  secret: string,
  decision: Decision,
  input: DecisionInput,
  confirmWithinMs = DECISION_CONFIRM_MS,
): Promise<ApprovalRecord & { note?: string }> {
  const handle = await runningRotation(client, secret);
  try {
    return await refusedAsError(secret, () =>
      handle.executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [input] }),
    );
  } catch (err) {
    // Bad input is refused before it reaches the gate; anything else may have been a decision that was taken while
    // its answer was lost (a Temporal restart, a dropped connection, or this decision sent again after that).
    if (err instanceof RotatorError && err.code === 'CONFIG_INVALID') throw err;
    const taken = await decisionTaken(handle, decision, input, confirmWithinMs);
    if (!taken) throw err;
    return {
      ...taken,
      note: `the rotation shows this decision (${why(err)}); it is not taken twice`,
    };
  }
}

/** How long a decision whose answer was lost is looked for in the rotation's status before the error stands. */
export const DECISION_CONFIRM_MS = 30_000;

function why(err: unknown): string {
  return err instanceof RotatorError && err.code === 'CONFLICT' ? 'it was taken before' : "Temporal's answer to it was lost";
}

/**
 * The gate, once the rotation can say: its decision when it is `decision` by the same person, else null (waiting
 * still, or decided otherwise, or no answer within `withinMs`, polling through a Temporal restart).
 */
async function decisionTaken(
  handle: WorkflowHandle<typeof rotateSecret>,
  decision: Decision,
  input: DecisionInput,
  withinMs: number,
): Promise<ApprovalRecord | null> {
  const wanted = decision === 'approve' ? 'approved' : 'rejected';
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      const closed = (await handle.describe()).status.name !== 'RUNNING';
      const status = closed ? (await closedStatus(handle))?.status : await queryStatus(handle);
      const gate = status?.approval ?? null;
      return gate && gate.decision === wanted && gate.by === input.by ? { ...gate } : null;
    } catch {
      // Temporal, or a worker to answer the query, not back yet
    }
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Cancels the running rotation of `secret`, recording who did: it then ends `cancelled` if nothing had changed yet,
 * or is rolled back. Refused once it is past its commit point (nothing left to roll back).
 */
export async function cancelRotation(
  client: Client,
  secret: string,
  input: DecisionInput,
): Promise<{ cancel: CancelRecord; handle: WorkflowHandle<typeof rotateSecret> }> {
  const handle = await runningRotation(client, secret);
  const cancel = await refusedAsError(secret, () => handle.executeUpdate(cancelUpdate, { args: [input] }));
  return { cancel, handle };
}

/** The handle of the rotation of `secret` that is running now; NOT_FOUND when none is. */
async function runningRotation(client: Client, secret: string): Promise<WorkflowHandle<typeof rotateSecret>> {
  const handle = client.workflow.getHandle<typeof rotateSecret>(workflowIdFor(secret));
  const run = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  });
  if (!run || run.status.name !== 'RUNNING') throw new RotatorError('NOT_FOUND', `no rotation of ${secret} is running`, 'secret');
  // Pinned to this run: a decision must not land on a later rotation started in the meantime.
  return client.workflow.getHandle<typeof rotateSecret>(run.workflowId, run.runId);
}

/** A refused update (the workflow's validator said why) as a RotatorError with the workflow's code and sentence. */
async function refusedAsError<T>(secret: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new RotatorError('NOT_FOUND', `no rotation of ${secret} is running`, 'secret');
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
    const code = cause?.type === 'CONFIG_INVALID' ? 'CONFIG_INVALID' : 'CONFLICT';
    const message = cause?.message ?? err.message;
    // The validator names the field it refused (`by: …`, `reason: …`): keep it as the error's path.
    const field = /^(by|reason): (.*)$/s.exec(message);
    throw field ? new RotatorError(code, field[2]!, field[1]) : new RotatorError(code, message);
  }
}

export async function queryStatus(handle: WorkflowHandle): Promise<RotationStatus> {
  return handle.query(statusQuery);
}

export interface RotationOutcome {
  status: RotationStatus;
  ok: boolean;
}

/**
 * Waits for the rotation to end, calling `onProgress` whenever its status changes. Progress comes from the status
 * query; the end comes from the workflow result, so nothing is missed if a poll falls between two phases.
 */
/** How `followRotation` rides out a Temporal server that stops answering (a restart, a failover). */
export interface FollowOptions {
  /** Called once when Temporal stops answering, with why; following goes on. */
  onUnreachable?: (reason: string) => void;
  /** Called once when it answers again. */
  onBack?: () => void;
  /** Give up (throw the last error) when Temporal has not answered for this long. */
  unreachableForMs?: number;
}

/** How long `rotate --wait` keeps following through a Temporal outage by default. */
export const FOLLOW_UNREACHABLE_MS = 5 * 60_000;

/** Temporal's frontend did not answer (down, restarting, connection refused), as opposed to answering with an error. */
export function isTemporalUnreachable(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | null; e; e = e.cause as typeof e) {
    // gRPC UNAVAILABLE, DEADLINE_EXCEEDED
    if (e.code === 14 || e.code === 4) return true;
    if (typeof e.message === 'string' && /ECONNREFUSED|UNAVAILABLE|No connection established/.test(e.message)) return true;
  }
  return false;
}

function reasonOf(err: unknown): string {
  for (let e = err as { details?: unknown; cause?: unknown; message?: unknown } | null; e; e = e.cause as typeof e)
    if (!e.cause && typeof e.message === 'string') return e.message.split('\n')[0]!.slice(0, 200);
  return String(err);
}

export async function followRotation(
  handle: WorkflowHandle,
  onProgress?: (status: RotationStatus) => void,
  pollMs = 200,
  follow: FollowOptions = {},
): Promise<RotationOutcome> {
  let done = false;
  let last = '';
  const report = (s: RotationStatus) => {
    const key = JSON.stringify([s.phase, s.phases.length, s.outcome]);
    if (key !== last) {
      last = key;
      onProgress?.(s);
    }
  };
  const poller = (async () => {
    while (!done && onProgress) {
      try {
        report(await queryStatus(handle));
      } catch {
        // no worker picked the rotation up yet, or it just closed: the result below decides
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  })();
  const unreachableForMs = follow.unreachableForMs ?? FOLLOW_UNREACHABLE_MS;
  let downSince: number | null = null;
  /** `read`, again and again while Temporal does not answer, at most `unreachableForMs` in one outage. */
  const throughOutages = async <T>(read: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        const value = await read();
        if (downSince !== null) follow.onBack?.();
        downSince = null;
        return value;
      } catch (err) {
        if (!isTemporalUnreachable(err)) throw err;
        if (downSince === null) {
          downSince = Date.now();
          follow.onUnreachable?.(reasonOf(err));
        }
        if (Date.now() - downSince >= unreachableForMs) throw err;
        await new Promise((r) => setTimeout(r, Math.max(pollMs, 500)));
      }
    }
  };
  try {
    const ended = await throughOutages(() => closedStatus(handle));
    const status = ended?.status ?? (await throughOutages(() => queryStatus(handle)));
    report(status);
    return { status, ok: ended?.ok ?? false };
  } finally {
    done = true;
    await poller;
  }
}

/**
 * The final status of a rotation once it has closed: its result, or the details of the failure it ended with. Read
 * from history, so no worker has to answer. Waits for a running rotation to close; null for one that ended without
 * a status (terminated, timed out, or from before statuses were attached to failures).
 */
export async function closedStatus(handle: WorkflowHandle): Promise<RotationOutcome | null> {
  try {
    const status = (await handle.result()) as RotationStatus;
    // A rotation that was rejected or whose approval expired ends cleanly too, but did not rotate anything.
    return { status, ok: status.outcome === 'succeeded' };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const details = err.cause instanceof ApplicationFailure ? err.cause.details : undefined;
    const status = details?.[0] as RotationStatus | undefined;
    return status && typeof status === 'object' && 'outcome' in status ? { status, ok: false } : null;
  }
}

/** How long `status` waits for a worker to answer the query of a running rotation before saying none did. */
export const QUERY_PATIENCE_MS = 3_000;

/** The status of a rotation: from history once closed, else by query, giving up after `patienceMs` (null). */
export async function currentStatus(handle: WorkflowHandle, closed: boolean, patienceMs = QUERY_PATIENCE_MS) {
  if (closed) return (await closedStatus(handle))?.status ?? null;
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), patienceMs);
  });
  try {
    return await Promise.race([queryStatus(handle).catch(() => null), gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunSummary {
  workflowId: string;
  runId: string;
  /** Temporal's execution status (RUNNING, COMPLETED, FAILED, TERMINATED, …). */
  status: string;
  /** The rotation's own outcome (succeeded, rolled-back, …); `running` while open; null when it left none. */
  outcome: string | null;
  startTime: Date;
  closeTime: Date | null;
}

/** Newest first. Visibility stores cannot all sort, so runs are listed (up to a bound), sorted, then cut. */
export async function rotationHistory(client: Client, secret: string, limit = 20, scanAtMost = 1000): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  const id = workflowIdFor(secret).replace(/'/g, "\\'");
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${id}'` })) {
    runs.push({
      workflowId: wf.workflowId,
      runId: wf.runId,
      status: wf.status.name,
      outcome: null,
      startTime: wf.startTime,
      closeTime: wf.closeTime ?? null,
    });
    if (runs.length >= scanAtMost) break;
  }
  const newest = runs.sort((a, b) => b.startTime.getTime() - a.startTime.getTime()).slice(0, limit);
  return Promise.all(newest.map((run) => withOutcome(client, run)));
}

async function withOutcome(client: Client, run: RunSummary): Promise<RunSummary> {
  if (run.status === 'RUNNING') return { ...run, outcome: 'running' };
  const ended = await closedStatus(client.workflow.getHandle(run.workflowId, run.runId, { followRuns: false }));
  return { ...run, outcome: ended?.status.outcome ?? null };
}

export async function latestRun(client: Client, secret: string): Promise<RunSummary | null> {
  try {
    const d = await client.workflow.getHandle(workflowIdFor(secret)).describe();
    return withOutcome(client, {
      workflowId: d.workflowId,
      runId: d.runId,
      status: d.status.name,
      outcome: null,
      startTime: d.startTime,
      closeTime: d.closeTime ?? null,
    });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** True when some worker polled the task queue recently; a rotation started without one waits until one does. */
export async function hasWorkers(client: Client, taskQueue: string): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
  });
  return (res.pollers?.length ?? 0) > 0;
}

export type Pickup =
  | { state: 'running' }
  | { state: 'waiting' }
  /** Every worker that tried failed the rotation's first workflow task: it cannot read it (codec keys). */
  | { state: 'unreadable'; reason: string };

const { EventType } = temporal.api.enums.v1;

/**
 * Waits until a worker has run the rotation's first workflow task, at most `waitMs`. A task that is still only
 * scheduled then means no live worker (a dead one still counts as a poller for a while, so this is the test that
 * notices). `unreadable` is said only when it is safe to stop the rotation: the first task failed and was retried,
 * none timed out (a worker that ran the first steps and died would leave a timeout), and the worker that failed it is
 * the only one polling the queue, so no other worker can be running those steps now.
 */
export async function awaitPickup(
  client: Client,
  handle: WorkflowHandle,
  taskQueue: string,
  waitMs = 5_000,
  pollMs = 100,
): Promise<Pickup> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const has = (type: number) => events.some((e) => e.eventType === type);
    if (has(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)) return { state: 'running' };
    const failed = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED).at(-1);
    if (failed && !has(EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)) {
      const { namespace } = client.options;
      const [{ pendingWorkflowTask }, { pollers }] = await Promise.all([
        client.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId: handle.workflowId } }),
        client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue } }),
      ]);
      const failedBy = failed.workflowTaskFailedEventAttributes?.identity;
      const onlyThatWorker = !!failedBy && (pollers ?? []).every((p) => p.identity === failedBy);
      if (onlyThatWorker && (pendingWorkflowTask?.attempt ?? 1) >= 2)
        return { state: 'unreadable', reason: await unreadableReason(failed, client) };
    }
    if (Date.now() >= deadline) return { state: 'waiting' };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** What a failed first workflow task says: its message if this client can decrypt it, else the key id it used. */
async function unreadableReason(event: temporal.api.history.v1.IHistoryEvent, client: Client): Promise<string> {
  const failure = event.workflowTaskFailedEventAttributes?.failure;
  const encoded = failure?.encodedAttributes;
  if (encoded) {
    try {
      const [payload] = await client.options.loadedDataConverter.payloadCodecs[0]!.decode([encoded]);
      const attributes = JSON.parse(Buffer.from(payload!.data ?? new Uint8Array()).toString('utf8')) as { message?: string };
      if (attributes.message) return attributes.message;
    } catch {
      // not ours to read: name the key it was written with
    }
    const keyId = encoded.metadata?.['encryption-key-id'];
    if (keyId) {
      const ours = (client.options.loadedDataConverter.payloadCodecs[0] as { activeKeyId?: string } | undefined)?.activeKeyId;
      return `the workers encrypt with key id "${Buffer.from(keyId).toString('utf8')}"${ours ? ` and cannot read this client's key id "${ours}"` : ''}: workers and CLI must share their codec keys (ROTATOR_CODEC_KEY / ROTATOR_CODEC_KEY_FILE)`;
    }
  }
  return failure?.message ?? 'the workers fail its first workflow task';
}
