// `rotator plan` for a Vault/OpenBao KV v2 store: asks sys/capabilities-self what the token may do on the paths
// rotation writes (the secret, its metadata, the pending slot), which changes nothing.
import type { z } from 'zod';
import { RotatorError } from '../../../src/kernel/errors';
import type { PreflightCheck } from '../../plugin';
import { vaultSession } from './auth';
import { vaultClient } from './client';
import { parseKvPath, type schema } from './index';

type VaultProvider = z.infer<typeof schema>;

/** What rotation does on each path (store.ts): stage, promote, record the rotation, discard the claim. */
function needs(path: string, pendingPrefix: string): Array<{ path: string; capabilities: string[]; why: string }> {
  const kv = parseKvPath(path, pendingPrefix);
  return [
    { path: kv.data, capabilities: ['read', 'create', 'update'], why: 'promote writes the new version' },
    { path: kv.metadata, capabilities: ['read', 'update'], why: 'the rotation is recorded in custom metadata' },
    { path: kv.pendingData, capabilities: ['read', 'create', 'update'], why: 'the pending value is staged here' },
    { path: kv.pendingMetadata, capabilities: ['delete'], why: 'the claim ends by deleting the pending value' },
  ];
}

export async function preflight(config: VaultProvider, path: string): Promise<PreflightCheck[]> {
  const check = `store: token may write ${path}`;
  const wanted = needs(path, config.pending_prefix);
  const session = vaultSession(config);
  try {
    await session.ready();
    const client = vaultClient({
      address: config.address,
      token: session,
      ...(config.namespace ? { namespace: config.namespace } : {}),
    });
    const body = (await client.write('sys/capabilities-self', { paths: wanted.map((w) => w.path) })) as Record<string, unknown>;
    const missing = wanted.flatMap((w) => {
      const held = Array.isArray(body[w.path]) ? (body[w.path] as string[]) : [];
      if (held.includes('root')) return [];
      const lacking = w.capabilities.filter((c) => !held.includes(c) || held.includes('deny'));
      return lacking.length ? [{ ...w, lacking }] : [];
    });
    if (missing.length === 0) {
      return [
        {
          check,
          status: 'ok',
          detail: `sys/capabilities-self: the token may ${wanted.map((w) => `${w.capabilities.join('/')} ${w.path}`).join(', ')}`,
        },
      ];
    }
    return [
      {
        check,
        status: 'fail',
        detail: missing.map((m) => `the token lacks ${m.lacking.join(', ')} on ${m.path} (${m.why})`).join('; '),
        fix: `add to the token's policy: ${missing.map((m) => `path "${m.path}" { capabilities = [${m.capabilities.map((c) => `"${c}"`).join(', ')}] }`).join(' ')}`,
      },
    ];
  } catch (err) {
    const message = err instanceof RotatorError ? err.message : ((err as Error)?.message ?? String(err)).split('\n')[0];
    return [
      {
        check,
        status: 'fail',
        detail: `could not ask ${config.address} what the token may do: ${message}`,
        fix: 'check the provider’s address and token (or auth: block)',
      },
    ];
  } finally {
    session.release();
  }
}
