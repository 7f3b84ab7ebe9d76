// One way to make a node-vault client for rotator: the provider's address, token and namespace, debug output off.
import vault from 'node-vault';

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

/** node-vault's debug output prints request and response bodies, which hold secrets: DEBUG=* must never turn it on. */
export function vaultClient(connection: VaultConnection, requestTimeoutMs?: number): vault.client {
  const client = vault({
    apiVersion: 'v1',
    endpoint: connection.address,
    ...(connection.namespace ? { namespace: connection.namespace } : {}),
    ...(requestTimeoutMs ? { requestOptions: { timeout: requestTimeoutMs } } : {}),
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
