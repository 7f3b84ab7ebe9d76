// What a strategy decides: the order of the five phases, what undoes create's change on the target, and whether the
// new credential is verified as soon as it is made. One module per strategy; the map makes the compiler find one
// missing.
import type { Inspection } from '../../activities/rotation';
import type { FinishRevoke, RotationStatus } from '../definitions';
import type { Rotation } from './context';

/** An undo for the saga: what it does, in words for the notes, and the step. */
export interface Undo {
  what: string;
  run: () => Promise<void>;
}

export interface Strategy {
  /** create → publish → reconnect → verify → revoke, in this strategy's order, with its commit point. */
  run(r: Rotation): Promise<void>;
  /** The undo of making the new credential valid on the target, recorded before it is made; null: nothing to undo. */
  undoApply(r: Rotation, found: Inspection): Undo | null;
  /** Whether create verifies the new credential (two credentials: before anyone is told of it). */
  verifiesAtCreate: boolean;
  /** The sweep's finish of a `revoke-incomplete` rotation of this strategy, when it is not revoke.ts's finishEarlierRevoke. */
  finishRevoke?(r: Rotation, left: FinishRevoke): Promise<void>;
}

export type StrategyName = RotationStatus['strategy'];
