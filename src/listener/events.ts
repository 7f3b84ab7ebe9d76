// What every event source hands the dispatcher once it has authenticated and parsed a delivery: names and ids only.
import type { TriggerAction } from '../config/trigger';

/**
 * One event, as its sender raised it. Nothing here is a credential: sources keep only these fields from what
 * arrives, and drop the rest (a CloudTrail record's request parameters, a Pub/Sub message's data) unread.
 */
export interface TriggerEvent {
  /** The configured source it came through (`triggers.sources.<name>`). */
  source: string;
  /** The sender's own id of the event (EventBridge `id`, Pub/Sub `messageId`, Event Grid `id`, the webhook's `id`). */
  id: string;
  /** The sender's event type: `RotateSecret`, `PutSecretValue`, `SECRET_ROTATE`, `Microsoft.KeyVault.SecretNearExpiry`, … */
  type: string;
  /** The provider's id of the secret it is about (an ARN, `projects/p/secrets/s`, a Key Vault secret id, a name). */
  resource: string;
  /** When the sender says it happened (epoch ms): any rotation that started after it answers it. */
  time: number;
}

export type DispatchOutcome =
  /** A trigger workflow was started for the event (it rotates, joins a running rotation, or skips). */
  | { status: 'started'; secret: string; action: TriggerAction; workflowId: string }
  /** The event was seen before (its trigger workflow exists, running or closed): nothing new is started. */
  | { status: 'duplicate'; workflowId: string }
  /** No rule maps it: logged and dropped, never guessed. */
  | { status: 'unmapped' };

/**
 * The latest moment a sender's time can stand for. A time given to the second (EventBridge's, a unix timestamp)
 * means some moment within that second: the end of it is when the event surely had happened, so a rotation that
 * started within that same second is not taken to answer it.
 */
export function latestMoment(text: string | number): number {
  if (typeof text === 'number') return text * 1000 + 999;
  const ms = Date.parse(text);
  return /\.\d/.test(text) ? ms : ms + 999;
}

/** Hands one authenticated, parsed event on. Throws only when it could not tell (Temporal unreachable): retry later. */
export type Dispatch = (event: TriggerEvent) => Promise<DispatchOutcome>;
