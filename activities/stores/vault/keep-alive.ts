// What a worker keeps running for a vault provider: its token's renewal (or its login's replacement).
import { logger } from '../../../src/kernel/log';
import type { KeepAlive } from '../../plugin';
import { vaultSession, type VaultSession } from './auth';
import type { VaultConfig } from './index';
import { TokenRenewer } from './token-renewal';

/**
 * A renewer when the provider logs in (its token must be replaced before it expires) or its `renewal:` is enabled:
 * the worker's own token must not expire under it. A login's session is the one its store and lease engine use, so
 * a renewal or a new login serves all three. Null otherwise.
 */
export async function keepAlive(p: VaultConfig): Promise<(KeepAlive & TokenRenewer) | null> {
  const logsIn = (p.auth?.method ?? 'token') !== 'token';
  if (!logsIn && !p.renewal?.enabled) return null;
  let session: VaultSession;
  try {
    session = vaultSession(p);
  } catch (err) {
    // auth.method aws: its store refuses to start with the same sentence.
    logger.warn({ address: p.address }, (err as Error).message);
    return null;
  }
  const renewer = new TokenRenewer({
    address: p.address,
    token: session,
    ...(p.namespace ? { namespace: p.namespace } : {}),
    incrementSec: Math.round((p.renewal?.increment ?? 3_600_000) / 1000),
    renew: p.renewal?.enabled ?? false,
  });
  await renewer.start().catch((err: unknown) => {
    const status = (err as { response?: { statusCode?: number } }).response?.statusCode;
    logger.warn({ status, address: p.address }, 'could not look up the vault token to renew it');
  });
  return renewer;
}
