// TLS certificates from OpenBao PKI: issued from a role on the stack's real OpenBao, served by a real Node TLS server
// that reloads from the store, verified by real handshakes, revoked onto the real CRL (read with openssl).
import { randomBytes } from 'node:crypto';
import { pki } from '../activities/targets/pki';
import { pemBlocks, serialOf } from '../activities/targets/pki/certificates';
import { handshake } from '../activities/targets/pki/handshake';
import type { PkiTarget } from '../activities/targets/pki/target';
import type { SecretValue } from '../activities/types';
import { unique } from './support/harness';
import { X509Certificate } from 'node:crypto';
import { assessSecrets } from '../activities/lifecycle';
import { SweepSchema } from '../src/config/lifecycle';
import { ProviderRegistry } from '../activities/registry';
import { followRotation, startRotation } from '../src/client/rotations';
import { untilPhase } from './support/harness';
import {
  CN,
  crlSerialsOfAllIssuers,
  pkiMount,
  pkiScenario,
  startTlsConsumer,
  type PkiMount,
  type PkiScenario,
  type TlsConsumer,
} from './support/pki';
import { startRotator, type Rotator } from './support/rotator';
import { vaultTestStore } from './support/test-stores';

let open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.reverse()) await o.close();
  open = [];
});

async function served(c: TlsConsumer, ca: string) {
  return handshake({ host: c.host, port: c.port, servername: CN, ca });
}

/** A PKI target on its own mount, and the stored value a first issue made. */
async function setUp(
  verifyWithin = '3s',
): Promise<{ p: PkiMount; target: PkiTarget; store: ReturnType<typeof vaultTestStore>; name: string; consumer: TlsConsumer }> {
  const p = await pkiMount(unique('pki'));
  const store = vaultTestStore();
  const name = unique('cert');
  // The consumer needs a certificate to start with; the endpoint is known once it listens, so a first target issues it.
  const first = (await pki.create(
    {
      type: 'pki',
      connection: { provider: 'vault', path: 'unused' },
      mount: p.mount,
      role: p.role,
      common_name: CN,
      alt_names: ['localhost'],
      ip_sans: ['127.0.0.1'],
      ttl: '1h',
      verify: { host: '127.0.0.1', port: 1 },
    },
    { address: p.address, token: p.token },
  )) as PkiTarget;
  const issued = await first.issue({ startedAt: Date.now(), current: null });
  await store.write(name, { ...first.credentialFields(issued, null), owner: 'team-a' } as SecretValue);
  const consumer = await startTlsConsumer({
    read: async () => (await store.readCurrent(name))?.value ?? null,
    signingKey: randomBytes(16).toString('hex'),
  });
  open.push(consumer);
  const target = (await pki.create(
    {
      type: 'pki',
      connection: { provider: 'vault', path: 'unused' },
      mount: p.mount,
      role: p.role,
      common_name: CN,
      alt_names: ['localhost'],
      ip_sans: ['127.0.0.1'],
      ttl: '1h',
      algorithm: 'ec',
      verify: { host: consumer.host, port: consumer.port, servername: CN, within: verifyWithin },
    },
    { address: p.address, token: p.token },
  )) as PkiTarget;
  return { p, target, store, name, consumer };
}

describe('the pki target against OpenBao PKI and a real TLS server', () => {
  test('issue → publish → reload → handshake serves the new serial → the old serial goes onto the CRL; other fields kept', async () => {
    const { p, target, store, name, consumer } = await setUp();
    const before = (await store.readCurrent(name))!.value;
    const old = target.credentialOf(before)!;
    expect((await served(consumer, String(before['ca.crt']))).serial).toBe(old.id);

    const fresh = await target.issue({ startedAt: Date.now(), current: old });
    expect(fresh.id).not.toBe(old.id);
    const next = { ...before, ...target.credentialFields(fresh, old) } as SecretValue;
    await store.write(name, next);
    await consumer.reload();
    await expect(target.verify(fresh, next)).resolves.toEqual({
      endpoint: `${consumer.host}:${consumer.port}`,
      from: 'target connection',
    });
    const now = await served(consumer, String(next['ca.crt']));
    expect(now).toMatchObject({ serial: fresh.id, authorized: true });
    expect(next.owner).toBe('team-a');

    expect(await p.crlSerials()).not.toContain(old.id);
    await target.withdraw(old);
    await target.withdraw(old); // already revoked: done
    expect(await p.crlSerials()).toContain(old.id);
    expect(await p.crlSerials()).not.toContain(fresh.id);
  });

  test('verify refuses a server still serving the old certificate (VERIFY_FAILED naming both serials)', async () => {
    const { target, store, name } = await setUp('500ms');
    const before = (await store.readCurrent(name))!.value;
    const old = target.credentialOf(before)!;
    const fresh = await target.issue({ startedAt: Date.now(), current: old });
    const next = { ...before, ...target.credentialFields(fresh, old) } as SecretValue;
    const err = (await target.verify(fresh, next).catch((e: unknown) => e)) as { code: string; message: string };
    expect(err.code).toBe('VERIFY_FAILED');
    expect(err.message).toContain(old.id);
    expect(err.message).toContain(fresh.id);
    expect(err.message).not.toContain(fresh.secret);
  });

  test('an issue run again for the same rotation revokes what the first run issued and could not hand over', async () => {
    const { p, target, store, name } = await setUp();
    const old = target.credentialOf((await store.readCurrent(name))!.value)!;
    const startedAt = Date.now();
    const lost = await target.issue({ startedAt, current: old });
    const kept = await target.issue({ startedAt, current: old });
    const crl = await p.crlSerials();
    expect(crl).toContain(lost.id);
    expect(crl).not.toContain(kept.id);
    expect(crl).not.toContain(old.id);
  });

  test('a CA rotation: ca.crt holds both CAs through the overlap, either certificate validates, then only the new CA', async () => {
    const { p, target, store, name, consumer } = await setUp();
    const before = (await store.readCurrent(name))!.value;
    const old = target.credentialOf(before)!;
    const newRoot = await p.newRootCA('root-2');
    const fresh = await target.issue({ startedAt: Date.now(), current: old });
    const next = { ...before, ...target.credentialFields(fresh, old) } as SecretValue;
    const ca = String(next['ca.crt']);
    expect(pemBlocks(ca)).toHaveLength(2);
    expect(pemBlocks(ca)[0]).toBe(newRoot.trim());
    // A lagging replica still serves the old certificate: it validates against the union, as the new one does.
    expect(await served(consumer, ca)).toMatchObject({ serial: old.id, authorized: true });
    await store.write(name, next);
    await consumer.reload();
    expect(await served(consumer, ca)).toMatchObject({ serial: fresh.id, authorized: true });
    // Against the old CA alone the new certificate does not validate: the union is what carries clients through.
    expect((await served(consumer, String(before['ca.crt']))).authorized).toBe(false);

    await target.withdraw(old);
    expect(await crlSerialsOfAllIssuers(p)).toContain(old.id);
    const narrowed = target.afterWithdraw(next)!;
    expect(pemBlocks(String(narrowed['ca.crt']))).toEqual([newRoot.trim()]);
    expect(target.afterWithdraw({ ...next, ...narrowed })).toBeNull();
  });

  test('the sweep reads notAfter: due from 2/3 of the certificate life (renew_at), none without a certificate', async () => {
    const { store, name } = await setUp();
    const value = (await store.readCurrent(name))!.value;
    const r = (await pki.renewal({ renew_at: undefined } as never, value))!;
    const leaf = pemBlocks(String(value['tls.crt']))[0]!;
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(leaf);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    expect(r.notAfter).toBe(to);
    expect(r.renewAt).toBe(from + Math.round(((to - from) * 2) / 3));
    expect((await pki.renewal({ renew_at: 0.5 } as never, value))!.renewAt).toBe(from + Math.round((to - from) / 2));
    expect(await pki.renewal({} as never, { username: 'x' })).toBeNull();
    expect(serialOf(String(value['tls.crt']))).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2})+$/);
  });
});

describe('a certificate rotation (must-show 1): the issued strategy, a webhook reload, a handshake verify', () => {
  const started: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const o of started.reverse()) await o.close();
  });

  /** A scenario and a worker for its config, on a task queue of its own. */
  async function scenario(
    options: Parameters<typeof pkiScenario>[1] = {},
  ): Promise<{ s: PkiScenario; rotator: Rotator; tq: string }> {
    const tq = unique('tq');
    const s = await pkiScenario(tq, options);
    started.push(s);
    const rotator = await startRotator(s.yaml, s.env);
    started.push(rotator);
    return { s, rotator, tq };
  }

  test('handshake serial old → new; during the grace period either certificate validates; after it the old serial is on the CRL', async () => {
    const { s, rotator, tq } = await scenario({ grace: '6s' });
    const before = await s.current();
    const old = serialOf(String(before['tls.crt']))!;
    expect((await s.served()).serial).toBe(old);
    // A replica that has not reloaded yet: it keeps serving the old certificate through the grace period.
    const lagging = await startTlsConsumer({ read: async () => before, signingKey: 'unused-key' });
    open.push(lagging);

    const { handle } = await startRotation(rotator.client, tq, rotator.plan(s.secret));
    await untilPhase(handle, 'revoke', 60_000);
    const during = await s.current();
    const fresh = serialOf(String(during['tls.crt']))!;
    expect(fresh).not.toBe(old);
    const ca = String(during['ca.crt']);
    expect(await s.served(ca)).toMatchObject({ serial: fresh, authorized: true });
    const replica = await handshake({ host: lagging.host, port: lagging.port, servername: CN, ca });
    expect(replica).toMatchObject({ serial: old, authorized: true });
    expect(await s.p.crlSerials()).not.toContain(old);

    const { status } = await followRotation(handle);
    expect(status.outcome).toBe('succeeded');
    expect(status.username).toBe(fresh);
    const crl = await s.p.crlSerials();
    expect(crl).toContain(old);
    expect(crl).not.toContain(fresh);
    expect(await s.served()).toMatchObject({ serial: fresh, authorized: true });
    expect(await s.live()).toEqual([fresh]);
    const after = await s.current();
    expect(after.owner).toBe('team-a');
    // No key in what Temporal keeps.
    const history = JSON.stringify(await handle.fetchHistory());
    expect(history).not.toContain(String(after['tls.key']).split('\n')[1]);
    process.stderr.write(
      `\n| step | served serial | on the CRL |\n|---|---|---|\n| before | ${old} | no |\n| grace | ${fresh} (replica: ${old}) | no |\n| after | ${fresh} | ${old} |\n`,
    );
  }, 120_000);

  test('a failed handshake rolls back: the consumer that loaded the new certificate is told again and serves the old one; the new serial is revoked', async () => {
    // The consumer reloads on the webhook as it should; the handshake goes to a replica that never reloads, so it
    // finds the old serial and verify fails after the consumer already serves the new certificate.
    const tq = unique('tq');
    // The replica needs a certificate to listen with before the scenario (which names its port) exists: another
    // scenario's, until it loads this one's first certificate and then keeps it.
    const other = await pkiScenario(unique('tq'));
    started.push(other);
    let source = other.current;
    const replica = await startTlsConsumer({ read: () => source(), signingKey: 'unused-key' });
    open.push(replica);
    const s = await pkiScenario(tq, { within: '1s', verifyAt: { host: replica.host, port: replica.port } });
    started.push(s);
    source = s.current;
    await replica.reload();
    const rotator = await startRotator(s.yaml, s.env);
    started.push(rotator);
    const before = await s.current();
    const old = serialOf(String(before['tls.crt']))!;
    expect(s.consumer.reloads).toBe(0);
    const { handle } = await startRotation(rotator.client, tq, rotator.plan(s.secret));
    const { status } = await followRotation(handle);
    expect(status.outcome).toBe('rolled-back');
    expect(status.error?.code).toBe('VERIFY_FAILED');
    const fresh = status.username!;
    expect(fresh).not.toBe(old);
    expect(serialOf(String((await s.current())['tls.crt']))).toBe(old);
    // Told of the new version, then of the old one again by the rollback: no reload by hand.
    expect(s.consumer.reloads).toBe(2);
    expect(await s.served()).toMatchObject({ serial: old, authorized: true });
    const crl = await s.p.crlSerials();
    expect(crl).toContain(fresh);
    expect(crl).not.toContain(old);
    expect(await s.live()).toEqual([old]);
  }, 120_000);

  test('the sweep makes the certificate due at 2/3 of its life and overdue at notAfter, by the plugin, not by max_age', async () => {
    const { s, rotator } = await scenario();
    const leaf = new X509Certificate(pemBlocks(String((await s.current())['tls.crt']))[0]!);
    const [from, to] = [Date.parse(leaf.validFrom), Date.parse(leaf.validTo)];
    const renewAt = from + Math.round(((to - from) * 2) / 3);
    const providers = new ProviderRegistry(rotator.config.providers);
    // A look-ahead (due_within) shorter than the certificate's last third: the renewal point alone makes it due.
    const config = { ...rotator.config, sweep: SweepSchema.parse({ due_within: '1m' }) };
    const deps = { config, client: rotator.client, providers };
    const at = async (now: number) =>
      (await assessSecrets(deps, now, undefined, { includeOk: true, only: [s.secret] })).notOk.find(
        (r) => r.secret === s.secret,
      )!;
    const early = await at(from + 60_000);
    expect(early.state).toBe('ok');
    expect(early.expires).toBe(to);
    const due = await at(renewAt + 1_000);
    expect(due.state).toBe('due');
    expect(due.reasons).toContain('past its renewal point');
    const expired = await at(to + 1_000);
    expect(expired.state).toBe('overdue');
    expect(expired.reasons.join('; ')).toContain('expired 1 s ago');
    await providers.close();
  });
});
