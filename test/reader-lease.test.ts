// The L5 spec's dynamic secret (type: dynamic, a lease: block, no publish:) leased by the reader library itself, on the
// stack's real OpenBao database engine and PostgreSQL: the example app's query loop (examples/reader-app) runs through
// two re-issues before the role's max_ttl with no failed query, the previous credential still logs in during the
// grace period after each re-issue and is revoked at its end, and close() revokes every lease left (OpenBao's lease
// lookup no longer knows them; PostgreSQL refuses their logins). Synchronised on the library's own lease events and
// on the loop's query counts, never on sleeps.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load';
import { READER_LEASED_NOTE } from '../src/config/schema';
import { createSecretClient, type SecretClient } from '../src/reader';
import type { LeaseEvent } from '../src/reader/lease';
import { startQueryLoop, type QueryLoop } from '../examples/reader-app/app';
import { cli } from './support/cli';
import { codecKeyEnv, testCodecKeys } from './support/harness';
import { testStack } from './support/stack';
import { pgLogin, pgRole, vaultCall } from './support/vault-roles';

const stack = testStack();

/** The secret as the spec writes its dynamic example, with short TTLs for the test (a role made here). */
function specConfig(role: string): string {
  return `
secrets:
  app_db:
    provider: vault
    path: ${stack.vaultDatabase!.mount}/creds/${role}
    type: dynamic

    vault:
      address: \${VAULT_ADDR}

    # Lease management
    lease:
      renewal_enabled: true
      min_renewal_seconds: 1
      increment_seconds: 3
      renew_at: 0.5
      grace_period: 3s
`;
}

/** Whether OpenBao still knows the lease (sys/leases/lookup answers 200). */
async function leaseKnown(leaseId: string): Promise<boolean> {
  const { status } = await vaultCall('PUT', 'sys/leases/lookup', { lease_id: leaseId });
  return status === 200;
}

/** Resolves with the first lease event `pick` accepts. */
function nextEvent<T extends LeaseEvent>(client: SecretClient, pick: (e: LeaseEvent) => e is T): Promise<T> {
  return new Promise((resolve) => {
    const off = client.onLease((_secret, e) => {
      if (pick(e)) {
        off();
        resolve(e);
      }
    });
  });
}
const reissued = (e: LeaseEvent): e is Extract<LeaseEvent, { kind: 'reissued' }> => e.kind === 'reissued';

const logged: string[] = [];
const log = {
  info: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
  warn: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
};

describe('a dynamic secret its reader leases (no publish:)', () => {
  let client: SecretClient | undefined;
  let loop: QueryLoop | undefined;
  afterEach(async () => {
    await loop?.stop();
    await client?.close().catch(() => undefined);
  });

  it('keeps a PostgreSQL credential alive through two re-issues with no failed query, and revokes its leases on close', async () => {
    // default_ttl 3 s, max_ttl 10 s: renewed every 1.5 s, re-issued at 10 - grace 3 - lead 2 = 5 s after issue.
    const role = await pgRole({ default_ttl: '3s', max_ttl: '10s' });
    const config = parseConfig(specConfig(role), { VAULT_ADDR: stack.vault!.address, VAULT_TOKEN: stack.vault!.token });
    expect(config.secrets.app_db).toMatchObject({ type: 'dynamic' });
    expect(config.secrets.app_db!.publish).toBeUndefined();

    client = createSecretClient({ config, log });
    const events: LeaseEvent[] = [];
    client.onLease((_s, e) => events.push(e));
    const changes: string[] = [];
    client.onChange((c) => changes.push(`${c.previousVersion}→${c.version} (${c.reason})`));
    const uri = 'secret://app_db';
    const { host, port, database } = stack.postgres!;

    // Nothing is issued before the first get.
    expect(client.leaseStatus('app_db')).toBeNull();
    const first = await client.get(uri);
    expect(first.version).toMatch(new RegExp(`^${stack.vaultDatabase!.mount}/creds/${role}/`));
    expect(Object.keys(first.value as object).sort()).toEqual(['password', 'username']);
    expect(await leaseKnown(first.version!)).toBe(true);

    const failures: unknown[] = [];
    loop = startQueryLoop(client, uri, { endpoint: { host, port, database }, onFailure: (err) => failures.push(err) });

    const previousStillWorks: string[] = [];
    const revokedAfterGrace: string[] = [];
    for (let n = 1; n <= 2; n++) {
      const event = await nextEvent(client, reissued);
      // Right after the re-issue the previous credential is still offered and still logs in (the grace period).
      const candidates = await client.credential(uri);
      expect(candidates[0]).toMatchObject({ role: 'current', version: event.leaseId });
      const previous = candidates.find((c) => c.version === event.previousLeaseId);
      expect(previous?.role).toBe('previous');
      const { username, password } = previous!.value as Record<string, string>;
      previousStillWorks.push(await pgLogin(username, password));
      // Queries go on across it.
      const after = loop.done;
      await loop.finished(after + 3);
      // At the end of the grace period the library revokes it: OpenBao forgets it, PostgreSQL refuses it.
      await until(() => client!.leaseStatus('app_db')!.revoked.includes(event.previousLeaseId));
      expect(await leaseKnown(event.previousLeaseId)).toBe(false);
      expect(await pgLogin(username, password)).toMatch(/password authentication failed|does not exist/);
      revokedAfterGrace.push(event.previousLeaseId);
    }
    const counts = await loop.stop();
    loop = undefined;
    const status = client.leaseStatus('app_db')!;

    expect(previousStillWorks).toEqual(['ok', 'ok']);
    expect(failures).toEqual([]);
    expect(counts.failed).toBe(0);
    expect(status.reissues).toBeGreaterThanOrEqual(2);
    expect(status.renewals).toBeGreaterThanOrEqual(2);
    expect(changes.filter((c) => c.endsWith('(reissue)')).length).toBe(status.reissues);

    // close() revokes what is left: the current lease (and any previous one still held).
    const held = [status.current!.leaseId, ...status.previous.map((l) => l.leaseId)];
    const current = (await client.get(uri)).value as Record<string, string>;
    await client.close();
    client = undefined;
    for (const id of held) expect(await leaseKnown(id)).toBe(false);
    expect(await pgLogin(current.username!, current.password!)).toMatch(/password authentication failed|does not exist/);

    console.log(
      [
        '| queries ok | failed | fell back | renewals | re-issues | old leases revoked after grace | revoked on close |',
        '|---|---|---|---|---|---|---|',
        `| ${counts.ok} | ${counts.failed} | ${counts.fellBack} | ${status.renewals} | ${status.reissues} | ${revokedAfterGrace.length} | ${held.length} |`,
      ].join('\n'),
    );
    // Lease ids only: no credential in what the library logged.
    expect(logged.join('\n')).not.toContain(current.password!);
  });

  it("`rotator validate` accepts the spec's dynamic example verbatim, offline and online, and notes rotator keeps no lease", async () => {
    const spec = readFileSync(join(__dirname, 'fixtures/l5-secret-spec.md'), 'utf8');
    const yaml = /### Dynamic Secrets \(Vault\)\n\n```yaml\n([\s\S]*?)^```$/m.exec(spec)![1]!;
    const dir = mkdtempSync(join(tmpdir(), 'rotator-l5-dynamic-'));
    const file = join(dir, 'rotator.yaml');
    writeFileSync(file, yaml);
    const env = {
      VAULT_ADDR: process.env.VAULT_ADDR,
      VAULT_TOKEN: process.env.VAULT_TOKEN,
      ROTATOR_CODEC_KEY: process.env.ROTATOR_CODEC_KEY,
    };
    process.env.VAULT_ADDR = stack.vault!.address;
    process.env.VAULT_TOKEN = stack.vault!.token;
    process.env.ROTATOR_CODEC_KEY = codecKeyEnv(testCodecKeys());
    try {
      for (const args of [
        ['validate', file, '--offline'],
        ['validate', file],
      ]) {
        const run = await cli(...args);
        expect({ args, code: run.code, err: run.err }).toEqual({ args, code: 0, err: '' });
        expect(run.out).toContain(`note: secrets.mongo_credentials: ${READER_LEASED_NOTE}`);
        expect(run.out).toContain("rotator's worker does not keep it");
      }
      const status = await cli('--config', file, 'status', 'mongo_credentials');
      expect(status.code).toBe(4);
      expect(status.err).toContain('mongo_credentials is leased by its readers');
      // The sweep's assessment (`rotator expiry`) looks for no keeper of it, so it never starts one.
      writeFileSync(file, `temporal: { address: "${stack.temporal!.address}" }\n${yaml}`);
      const expiry = await cli('--config', file, '--json', 'expiry');
      expect({ code: expiry.code, err: expiry.err, out: expiry.out }).toEqual({ code: 0, err: '', out: expect.any(String) });
      expect(expiry.out).not.toContain('mongo_credentials');
    } finally {
      for (const [k, v] of Object.entries(env))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('issues a new credential at once when its lease is revoked behind its back (the renewal finds it gone)', async () => {
    const role = await pgRole({ default_ttl: '2s', max_ttl: '120s' });
    const config = parseConfig(specConfig(role), { VAULT_ADDR: stack.vault!.address, VAULT_TOKEN: stack.vault!.token });
    client = createSecretClient({ config, log });
    const events: LeaseEvent[] = [];
    client.onLease((_s, e) => events.push(e));
    const first = await client.get('secret://app_db');
    const replaced = nextEvent(client, reissued);
    expect((await vaultCall('PUT', 'sys/leases/revoke', { lease_id: first.version })).status).toBe(204);
    const event = await replaced;
    expect(event.previousLeaseId).toBe(first.version);
    expect(events).toContainEqual({ kind: 'failed', leaseId: first.version, step: 'renew', code: 'NOT_FOUND' });
    const { username, password } = (await client.get('secret://app_db')).value as Record<string, string>;
    expect(await pgLogin(username!, password!)).toBe('ok');
    await client.close();
    client = undefined;
    expect(await leaseKnown(event.leaseId)).toBe(false);
  });

  it('is refused by the store resolver (rotator get), which would issue a lease nobody renews', async () => {
    const role = await pgRole({ default_ttl: '60s', max_ttl: '120s' });
    const config = parseConfig(specConfig(role), { VAULT_ADDR: stack.vault!.address, VAULT_TOKEN: stack.vault!.token });
    const { resolveSecret } = await import('../src/client/resolve');
    const { ProviderRegistry } = await import('../activities/registry');
    const providers = new ProviderRegistry(config.providers);
    try {
      await expect(resolveSecret(config, providers, 'secret://app_db')).rejects.toMatchObject({
        code: 'UNSUPPORTED',
        message: expect.stringContaining('leased by its readers'),
      });
    } finally {
      await providers.close();
    }
    expect((await vaultCall('LIST', `sys/leases/lookup/${stack.vaultDatabase!.mount}/creds/${role}/`)).status).toBe(404);
  });
});

/** Polls `condition` (every 100 ms, up to 30 s): a wait for something to happen, not for time to pass. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
