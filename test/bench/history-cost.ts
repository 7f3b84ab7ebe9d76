// What one workflow run costs a Temporal cluster, counted from its real history: events, state transitions (the
// server's own count), workflow tasks, regular and local activities, timers and Temporal Cloud's billable actions.
// docs/sizing.md is written from these counts; test/sizing.test.ts checks the doc against a real history.
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const T = temporal.api.enums.v1.EventType;

export interface HistoryCost {
  /** History events: what the history service appends, and what a replay reads. */
  events: number;
  /** Mutable-state updates the server counted for the run (DescribeWorkflowExecution's stateTransitionCount). */
  stateTransitions: number;
  /** Workflow tasks completed (each a task through matching or the sticky queue, and a write). */
  workflowTasks: number;
  /** Regular activity attempts (each a task, a start and a completion through the server). */
  activities: number;
  /** Local activities and patch markers: results carried in workflow task completions, no task of their own. */
  markers: number;
  timers: number;
  /**
   * Billable actions as Temporal Cloud counts them from history: the start (or continue-as-new), each activity
   * attempt, each timer, each search-attribute upsert (but TemporalChangeVersion's), each signal, each accepted update, each child start (two),
   * and one per workflow task that recorded markers (local activities). Heartbeats, queries and schedules are not
   * in history and are counted by the caller.
   */
  actions: number;
  /** The history's size as the server reports it. */
  historyBytes: number;
  /**
   * Workflow tasks a loaded machine added: timed out or failed, or only heartbeating a task whose local activities
   * ran past 80% of its timeout (markers and nothing else before the next task). An undisturbed run has none.
   */
  disturbances: number;
}

/** Counts a history's events by the rules above; `stateTransitions` and `historyBytes` come from describe. */
export function costOf(events: temporal.api.history.v1.IHistoryEvent[]): Omit<HistoryCost, 'stateTransitions' | 'historyBytes'> {
  let workflowTasks = 0;
  let activities = 0;
  let markers = 0;
  let timers = 0;
  let actions = 0;
  let markersThisTask = 0;
  let disturbances = 0;
  /** Since the last completed task, only markers and upserts: the next task scheduled then is a heartbeat. */
  let onlyMarkers = false;
  for (const e of events) {
    if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED && onlyMarkers) disturbances += 1;
    if (e.eventType !== T.EVENT_TYPE_MARKER_RECORDED && e.eventType !== T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
      onlyMarkers = e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
    switch (e.eventType) {
      // A continue-as-new is billed as the start of the next run, whose history holds that start.
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        actions += 1;
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        workflowTasks += 1;
        markersThisTask = 0;
        break;
      case T.EVENT_TYPE_MARKER_RECORDED:
        markers += 1;
        if (markersThisTask++ === 0) actions += 1;
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const attempt = e.activityTaskStartedEventAttributes?.attempt ?? 1;
        activities += attempt;
        actions += attempt;
        break;
      }
      case T.EVENT_TYPE_TIMER_STARTED:
        timers += 1;
        actions += 1;
        break;
      case T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        // The SDK upserts TemporalChangeVersion with each patch a run takes: exempt from billing.
        const fields = Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
        if (fields.some((f) => f !== 'TemporalChangeVersion')) actions += 1;
        break;
      }
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
      case T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        actions += 1;
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
      case T.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        disturbances += 1;
        break;
      case T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        actions += 2;
        break;
      default:
        break;
    }
  }
  return { events: events.length, workflowTasks, activities, markers, timers, actions, disturbances };
}

/** The cost of one closed run, read from the server: its history and its state-transition count. */
export async function costOfRun(client: Client, workflowId: string, runId?: string): Promise<HistoryCost> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const [history, described] = await Promise.all([
    handle.fetchHistory(),
    client.workflowService.describeWorkflowExecution({
      namespace: client.options.namespace,
      execution: { workflowId, ...(runId ? { runId } : {}) },
    }),
  ]);
  const info = described.workflowExecutionInfo;
  return {
    ...costOf(history.events ?? []),
    stateTransitions: Number(info?.stateTransitionCount ?? 0),
    historyBytes: Number(info?.historySizeBytes ?? 0),
  };
}

/** One line per run kind: `name  events  transitions  tasks  activities  markers  timers  actions  bytes`. */
export function costTable(rows: Array<[name: string, cost: HistoryCost]>): string {
  const cols = ['events', 'transitions', 'wf tasks', 'activities', 'markers', 'timers', 'actions', 'bytes'];
  const head = `${'run'.padEnd(34)}${cols.map((c) => c.padStart(12)).join('')}`;
  const lines = rows.map(
    ([name, c]) =>
      `${name.padEnd(34)}${[
        c.events,
        c.stateTransitions,
        c.workflowTasks,
        c.activities,
        c.markers,
        c.timers,
        c.actions,
        c.historyBytes,
      ]
        .map((n) => String(n).padStart(12))
        .join('')}`,
  );
  return [head, ...lines].join('\n');
}

/** When an event was written, in epoch ms (the server's clock). */
export function eventMs(e: temporal.api.history.v1.IHistoryEvent): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
}

/** Where one run's wall time went, in ms, from its history's timestamps and the caller's own start and end. */
export interface Timeline {
  /** The client's start call until the server recorded the start. */
  startCall: number;
  /** The start until a worker picked up the first workflow task. */
  firstDispatch: number;
  /** Inside workflow tasks: the worker's code, local activities included. */
  inWorkflowTasks: number;
  /** Regular activities, started to completed (eager ones start with the task that scheduled them). */
  inActivities: number;
  /** Everything else between the start and the close: the server scheduling and dispatching tasks and activities. */
  serverBetween: number;
  /** The close until the client had the result. */
  resultCall: number;
  /** The caller's start to its result: the sum of the above. */
  total: number;
}

/**
 * Splits a run (its history, and when the caller started it and had its result: epoch ms) into the Timeline. An
 * activity's started event is written when it closes, stamped with its last attempt's start: earlier attempts, retry
 * backoff and timed-out tasks count as the server's time between tasks (an undisturbed rotation has none).
 */
export function timelineOf(events: temporal.api.history.v1.IHistoryEvent[], callStart: number, callEnd: number): Timeline {
  const started = new Map<number, number>(); // scheduled event id -> started time
  let inWorkflowTasks = 0;
  let inActivities = 0;
  let firstTask: number | null = null;
  for (const e of events) {
    if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_STARTED) {
      started.set(Number(e.workflowTaskStartedEventAttributes?.scheduledEventId), eventMs(e));
      firstTask ??= eventMs(e);
    } else if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED || e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_FAILED) {
      const a = e.workflowTaskCompletedEventAttributes ?? e.workflowTaskFailedEventAttributes;
      inWorkflowTasks += eventMs(e) - (started.get(Number(a?.scheduledEventId)) ?? eventMs(e));
    } else if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      started.set(Number(e.activityTaskStartedEventAttributes?.scheduledEventId), eventMs(e));
    } else if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED || e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_FAILED) {
      const a = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      inActivities += eventMs(e) - (started.get(Number(a?.scheduledEventId)) ?? eventMs(e));
    }
  }
  const first = eventMs(events[0]!);
  const last = eventMs(events.at(-1)!);
  const firstDispatch = (firstTask ?? first) - first;
  return {
    startCall: first - callStart,
    firstDispatch,
    inWorkflowTasks,
    inActivities,
    serverBetween: last - first - firstDispatch - inWorkflowTasks - inActivities,
    resultCall: callEnd - last,
    total: callEnd - callStart,
  };
}

/** The steps a run took, from its history: local activities (their markers, not patches') and regular activities. */
export function stepsOf(events: temporal.api.history.v1.IHistoryEvent[]): { local: number; regular: number } {
  let local = 0;
  let regular = 0;
  for (const e of events) {
    if (e.eventType === T.EVENT_TYPE_MARKER_RECORDED && e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
      local += 1;
    else if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) regular += 1;
  }
  return { local, regular };
}
