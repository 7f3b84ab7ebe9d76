// One way to make a node-vault client for rotator: the provider's address, token and namespace, debug output off.
import vault from 'node-vault';

export interface VaultConnection {
  address: string;
  token: string;
  namespace?: string;
}

/** node-vault's debug output prints request and response bodies, which hold secrets: DEBUG=* must never turn it on. */
export function vaultClient(connection: VaultConnection, requestTimeoutMs?: number): vault.client {
  return vault({
    apiVersion: 'v1',
    endpoint: connection.address,
    token: connection.token,
    ...(connection.namespace ? { namespace: connection.namespace } : {}),
    ...(requestTimeoutMs ? { requestOptions: { timeout: requestTimeoutMs } } : {}),
    debug: () => undefined,
  } as vault.VaultOptions);
}
