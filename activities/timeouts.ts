// How long one request of a store, target or consumer client may take: below the timeout of the step that makes it.
import { msToNumber, type Duration } from '@temporalio/common';
import { COMPENSATE, IRREVERSIBLE, RESTORE, SHORT_IO, VERIFY_LOGIN } from '../workflows/lib/policies';

const ms = (d: Duration | undefined, fallback: number): number => (d === undefined ? fallback : msToNumber(d));

/**
 * The shortest start-to-close timeout of the steps that use the clients (forward, revoke and release, compensations,
 * restore): what every request a step makes must end well within.
 */
export const STEP_TIMEOUT_MS = Math.min(
  ...[SHORT_IO, IRREVERSIBLE, COMPENSATE, RESTORE].map((policy) => ms(policy.startToCloseTimeout, 30_000)),
);

/**
 * One request to a store's or target's API (OpenBao, AWS, Kubernetes, a database statement): a third of the step's
 * timeout. A request that hangs (a frozen server) then fails the attempt on its own, naming the system, and the
 * attempt does not run on in the background beside its retry, which Temporal starts when the step's timeout passes.
 */
export const REQUEST_TIMEOUT_MS = Math.floor(STEP_TIMEOUT_MS / 3);

/** Opening a connection (TCP and the server's greeting): an answering server takes milliseconds. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** What a step keeps beyond its requests for reading the credential from the store and answering. */
const STEP_MARGIN_MS = 5_000;

/**
 * The verify login's query: the operator's own statement, which may take seconds; the step (VERIFY_LOGIN) keeps the
 * connect timeout and a margin beyond it for connecting and reading the credential.
 */
export const VERIFY_QUERY_TIMEOUT_MS = ms(VERIFY_LOGIN.startToCloseTimeout, 30_000) - CONNECT_TIMEOUT_MS - STEP_MARGIN_MS;

/** "10s" for messages. */
export function seconds(msValue: number): string {
  return msValue % 1000 === 0 ? `${msValue / 1000}s` : `${(msValue / 1000).toFixed(1)}s`;
}
