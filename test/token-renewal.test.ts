// rotator's own Vault token kept alive (the L5 `renewal:` block), on the stack's OpenBao: a renewable token outlives
// its first TTL; a token that cannot be renewed is left alone; a failing renewal says so without the token.
import { TokenRenewer } from '../activities/stores/vault/token-renewal';
import { testStack } from './support/stack';
import { vaultCall } from './support/vault-roles';

const address = testStack().vault!.address;

async function childToken(body: Record<string, unknown>): Promise<string> {
  const { status, text } = await vaultCall('POST', 'auth/token/create', { policies: ['default'], ...body });
  if (status !== 200) throw new Error(`creating a token: ${status} ${text}`);
  return (JSON.parse(text) as { auth: { client_token: string } }).auth.client_token;
}

async function lookupSelf(token: string): Promise<number> {
  const res = await fetch(`${address}/v1/auth/token/lookup-self`, { headers: { 'X-Vault-Token': token } });
  return res.status;
}

/** Resolves on the n-th call. */
function nth<T>(n: number): { fn: (v: T) => void; done: Promise<T[]> } {
  const seen: T[] = [];
  let resolve: (v: T[]) => void;
  const done = new Promise<T[]>((r) => (resolve = r));
  return {
    fn: (v) => {
      seen.push(v);
      if (seen.length === n) resolve(seen);
    },
    done,
  };
}

describe('the vault token renewer', () => {
  it('renews a renewable token at 2/3 of its TTL, so it still works after its first TTL has passed', async () => {
    const token = await childToken({ ttl: '3s', explicit_max_ttl: '60s', renewable: true });
    const firstExpiry = Date.now() + 3000;
    const renewed = nth<number>(3);
    const renewer = new TokenRenewer({ address, token, incrementSec: 3, onRenewed: renewed.fn });
    try {
      expect(await renewer.start()).toMatchObject({ renewable: true });
      expect(await renewed.done).toEqual([3, 3, 3]);
      expect(Date.now()).toBeGreaterThan(firstExpiry); // three renewals at 2 s each: the first TTL is long gone
      expect(await lookupSelf(token)).toBe(200);
    } finally {
      renewer.stop();
    }
  }, 30_000);

  it('leaves a token that cannot be renewed alone', async () => {
    const token = await childToken({ ttl: '1h', renewable: false });
    const renewer = new TokenRenewer({ address, token, incrementSec: 3600 });
    expect(await renewer.start()).toEqual({ renewable: false, ttlSec: expect.any(Number) });
    renewer.stop();
  });

  it('reports a failed renewal without the token', async () => {
    const token = await childToken({ ttl: '3s', explicit_max_ttl: '60s', renewable: true });
    const failed = nth<string>(1);
    const renewer = new TokenRenewer({ address, token, incrementSec: 3, onError: failed.fn });
    try {
      await renewer.start();
      await vaultCall('POST', 'auth/token/revoke', { token });
      const [message] = await failed.done;
      expect(message).toMatch(/renewing the vault token failed \(HTTP 403\)/);
      expect(message).not.toContain(token);
    } finally {
      renewer.stop();
    }
  }, 30_000);
});
