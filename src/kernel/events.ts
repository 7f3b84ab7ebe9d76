// Rotation events: what a workflow reports as it moves from phase to phase. Workflows send them through the
// `rotator` sink (workflows/lib/events.ts); the worker fans them out to whoever listens (the audit trail, metrics).
// References only: secret names, login names, store versions, never a value.
import type { Sinks } from '@temporalio/workflow';

export type RotationEventKind =
  | 'rotation.started'
  | 'approval.requested'
  | 'approval.granted'
  | 'approval.rejected'
  | 'approval.timed-out'
  | 'cancel.requested'
  | 'phase.started'
  | 'phase.completed'
  | 'phase.failed'
  | 'rotation.ended';

export interface RotationEvent {
  kind: RotationEventKind;
  /** Milliseconds since the epoch, from the workflow's clock (the same on replay). */
  time: number;
  /**
   * The event's place in its run (1, 2, …), the same on replay. Delivery is at least once: a worker that dies between
   * steps it ran locally leaves them to the next worker, which runs them again and reports them again. The same
   * (workflowId, rotationId, seq) is the same event.
   */
  seq?: number;
  secret: string;
  workflowId: string;
  rotationId: string;
  strategy: string;
  /** Who or what started the rotation: `cli:alice`, `schedule:…`, `trigger:…`. */
  trigger: string | null;
  /** For phase.*: the phase. */
  phase?: string;
  /** For phase.completed / phase.failed: how long the phase took. */
  durationMs?: number;
  /** For rotation.ended: succeeded, failed, rolled-back, … */
  outcome?: string;
  /** Who approved, rejected or cancelled. */
  actor?: string;
  version?: string | null;
  previousVersion?: string | null;
  username?: string | null;
  previousUsername?: string | null;
  error?: { code: string; message: string } | null;
  /** Free text that names no value (a reason given with a rejection, a rollout's workloads). */
  detail?: string;
}

/**
 * The sink workflows call; registered by the worker with callDuringReplay false, so what history already holds is not
 * reported again by a worker that replays it (steps re-run after a worker death are: see `seq`).
 */
export interface RotatorSinks extends Sinks {
  rotator: { event(event: RotationEvent): void };
}

export type RotationEventListener = (event: RotationEvent) => void;

/** Fan-out in the worker process: a failing listener is logged by the caller's wrapper, never blocks the others. */
export class RotationEvents {
  private readonly listeners: RotationEventListener[] = [];

  on(listener: RotationEventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(event: RotationEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own (it logs it); the rotation and the other listeners go on.
      }
    }
  }
}
