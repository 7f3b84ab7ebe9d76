// One way to make a node-vault client for rotator: the provider's address, token and namespace, debug output off.
import vault from 'node-vault';
import { REQUEST_TIMEOUT_MS } from '../../timeouts';

/**
 * Where a client takes its token from when it is not a fixed string: the provider's login session (auth.ts). The
 * token is read at every request, so a new login reaches every client made with the source.
 */
export interface TokenSource {
  /** The token to send now ('' before the first login). */
  token(): string;
  /**
   * Vault refused `used` (HTTP 403). True when there is a newer token to try once more: the session logged in again
   * because `used` is no longer valid. False for a valid token that lacks the right (a policy denial).
   */
  refused(used: string): Promise<boolean>;
  /** The holder is done with the source (a shared login ends with its last holder). */
  release(): void;
}

export interface VaultConnection {
  address: string;
  /** A token given to rotator, or the source that logs in for one. */
  token: string | TokenSource;
  namespace?: string;
}

/** The token a connection sends now: for scrubbing it out of messages. */
export function currentToken(connection: VaultConnection): string {
  return typeof connection.token === 'string' ? connection.token : connection.token.token();
}

function statusOf(err: unknown): number | undefined {
  return (err as { response?: { statusCode?: number } })?.response?.statusCode;
}

/**
 * node-vault's debug output prints request and response bodies, which hold secrets: DEBUG=* must never turn it on.
 * Every request ends after `requestTimeoutMs` (below the step's timeout, see activities/timeouts.ts): without it, a
 * request to a frozen server stays in flight after its step timed out and lands when the server resumes, beside the
 * step's retry.
 */
export function vaultClient(connection: VaultConnection, requestTimeoutMs = REQUEST_TIMEOUT_MS): vault.client {
  const client = vault({
    apiVersion: 'v1',
    endpoint: connection.address,
    ...(connection.namespace ? { namespace: connection.namespace } : {}),
    requestOptions: { timeout: requestTimeoutMs },
    debug: () => undefined,
  } as vault.VaultOptions);
  const source = connection.token;
  if (typeof source === 'string') {
    // Exactly the token given: node-vault would fall back to $VAULT_TOKEN for an empty one (a login client has none).
    client.token = source;
    return client;
  }
  // node-vault reads `client.token` at each request; its login commands' attempts to set it are ignored.
  Object.defineProperty(client, 'token', { get: () => source.token(), set: () => undefined, configurable: true });
  // Every command goes through request(): a token that expired or was revoked under a running worker is replaced
  // by a new login and the request made once more, whoever made it (store, lease engine, renewer).
  const request = client.request.bind(client);
  client.request = async (options) => {
    const used = source.token();
    const copy = () => ({ ...options, headers: { ...(options.headers as Record<string, string> | undefined) } });
    try {
      return await request(copy());
    } catch (err) {
      if (statusOf(err) !== 403 || !(await source.refused(used))) throw err;
      return request(copy());
    }
  };
  return client;
}

/** A request that got no answer in time or could not connect: named by kind and server, never the driver's text. */
export function unanswered(err: unknown, address: string, requestTimeoutMs: number): string | null {
  const e = err as { code?: string; message?: string; response?: unknown } | null;
  if (!e || e.response) return null;
  if (e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT' || /timeout of \d+ms exceeded/.test(e.message ?? ''))
    return `vault at ${address} did not answer within ${Math.round(requestTimeoutMs / 100) / 10}s`;
  if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EHOSTUNREACH' || e.code === 'ENOTFOUND')
    return `vault at ${address} is unreachable (${e.code})`;
  return null;
}
