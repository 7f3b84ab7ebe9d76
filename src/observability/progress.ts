// What this worker knows of each rotation it runs steps of, from the workflows' rotation events: its secret and the
// phase it is in. Traces label activity spans with it; only names, never a value.
import type { RotationEvent } from '../kernel/events';

/** Rotations remembered at most; the oldest is forgotten first (one whose end another worker saw). */
const REMEMBERED = 10_000;

export class RotationProgress {
  private readonly byWorkflow = new Map<string, { secret: string; phase: string | null }>();

  /** A RotationEvents listener. */
  readonly onEvent = (event: RotationEvent): void => {
    const known = this.byWorkflow.get(event.workflowId);
    const phase = event.kind === 'phase.started' ? (event.phase ?? null) : (known?.phase ?? null);
    this.byWorkflow.delete(event.workflowId);
    // Kept after rotation.ended: the workflow's own span is exported after its last event.
    this.byWorkflow.set(event.workflowId, { secret: event.secret, phase: event.kind === 'rotation.ended' ? null : phase });
    if (this.byWorkflow.size > REMEMBERED) this.byWorkflow.delete(this.byWorkflow.keys().next().value as string);
  };

  secretOf(workflowId: string): string | null {
    return this.byWorkflow.get(workflowId)?.secret ?? secretOfWorkflowId(workflowId);
  }

  phaseOf(workflowId: string): string | null {
    return this.byWorkflow.get(workflowId)?.phase ?? null;
  }
}

/** The secret in rotator's own workflow ids (`rotate/<secret>`, `keep/<secret>`); null for the others. */
export function secretOfWorkflowId(workflowId: string): string | null {
  const m = /^(?:rotate|keep)\/(.+)$/.exec(workflowId);
  return m ? m[1] : null;
}

/** An activity's secret: its first argument is a plan or an input naming it (`{ secret }`), or the secret's name. */
export function secretOfArgs(args: unknown[]): string | null {
  const first = args[0];
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && typeof (first as { secret?: unknown }).secret === 'string') {
    return (first as { secret: string }).secret;
  }
  return null;
}
