// The house saga: record the undo, then take the step; on failure undo in reverse, past a failing undo; a commit point.
import { CancellationScope, log } from '@temporalio/workflow';
import { describeFailure } from './failures';

/**
 * `store` undoes what readers of the secret see; `target` withdraws a credential from the database. Once a store
 * undo fails, the store may still publish the new credential, so later target undos are skipped: it stays valid.
 */
export type UndoKind = 'store' | 'target';

interface Undo {
  what: string;
  kind: UndoKind;
  run: () => Promise<void>;
}

export interface CompensationResult {
  failures: number;
  /** One line per undo: done, could not be done, or left in place. */
  notes: string[];
}

export class Saga {
  private readonly undos: Undo[] = [];
  private committedAt = false;

  /** Registers the undo of the step about to run: each is idempotent, and a step may half-happen before it fails. */
  onFailure(kind: UndoKind, what: string, run: () => Promise<void>): void {
    this.undos.push({ what, kind, run });
  }

  /** Drops the last undo: for a step that failed in a way known to have changed nothing. */
  forgetLast(): void {
    this.undos.pop();
  }

  /** From here on nothing is undone: the change is complete enough to keep. */
  commit(): void {
    this.committedAt = true;
    this.undos.length = 0;
  }

  get committed(): boolean {
    return this.committedAt;
  }

  get hasUndos(): boolean {
    return this.undos.length > 0;
  }

  /** Runs the undos in reverse, each to the end even if the workflow is being cancelled. */
  compensate(context: Record<string, string>): Promise<CompensationResult> {
    return CancellationScope.nonCancellable(async () => {
      const result: CompensationResult = { failures: 0, notes: [] };
      let storeUndoFailed = false;
      for (const { what, kind, run } of this.undos.splice(0).reverse()) {
        if (kind === 'target' && storeUndoFailed) {
          result.failures += 1;
          result.notes.push(`left in place: ${what} (the store may still publish it)`);
          continue;
        }
        try {
          await run();
          result.notes.push(`undone: ${what}`);
        } catch (err) {
          result.failures += 1;
          storeUndoFailed ||= kind === 'store';
          result.notes.push(`could not undo: ${what}`);
          log.error('compensation failed; continuing with the rest', {
            ...context,
            step: what,
            error: describeFailure(err).message,
          });
        }
      }
      return result;
    });
  }
}
