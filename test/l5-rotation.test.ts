// A config written entirely in the L5 spec's form — per-secret `vault:` and `auth:` blocks, `keys:`, `cache:`, and a
// `rotation:` block with `refresh_interval` and `on_rotation` — rotates a PostgreSQL credential end to end: real
// Temporal, OpenBao and PostgreSQL, through the CLI a user runs (`rotator rotate`, `rotator get`).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../src/cli/main';
import { cli } from './support/cli';
import { adminQuery, canLogin, codecKeyEnv, readStore, seedAdmin, testCodecKeys, unique, vaultClient } from './support/harness';
import { startRotator, type Rotator } from './support/rotator';
import { testStack } from './support/stack';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

describe('a config in the L5 spec’s form', () => {
  const name = unique('orders_db');
  const role = unique('orders_app');
  const adminPath = `test/${unique('pg_admin')}`;
  const keyPath = `test/${unique('webhook_keys')}`;
  const hookKey = randomBytes(32).toString('hex');
  const received: Received[] = [];
  const saved = { ...process.env };
  let server: ReturnType<typeof createServer>;
  let rotator: Rotator;
  let configFile: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/rotated`;
    await seedAdmin(adminPath);
    await vaultClient().write(`secret/data/${keyPath}`, { data: { orders: hookKey } });

    // Nothing here is rotator's own form but `temporal:` and `target:` (rotator's additions beside the spec's).
    const yaml = `
temporal:
  address: "${testStack().temporal!.address}"
  task_queue: ${unique('tq')}
secrets:
  pg_admin:
    provider: vault
    path: secret/data/${adminPath}
    vault: { address: "\${VAULT_ADDR}" }
    auth: { method: token, token: "\${TEST_VAULT_TOKEN}" }
  webhook_keys:
    provider: vault
    path: secret/data/${keyPath}
    vault: { address: "\${VAULT_ADDR}" }
    auth: { method: token, token: "\${TEST_VAULT_TOKEN}" }
  ${name}:
    provider: vault
    path: secret/data/test/${name}
    keys: [username, password]
    vault:
      address: \${VAULT_ADDR}
    auth:
      method: token
      token: \${TEST_VAULT_TOKEN}
    cache: { enabled: true, ttl: 1s }
    target:
      type: postgresql
      connection: secret://pg_admin
      role: ${role}
    rotation:
      strategy: alternating-users
      drain: { timeout: 2s }
      grace_period: 1s   # readers keep a value up to 1s (cache.ttl, refresh_interval): revoke waits that long
      auto_refresh: true
      refresh_interval: 1s
      on_rotation:
        action: reconnect
        url: ${hookUrl}
        signing_key: secret://webhook_keys/orders
`;
    const env = { VAULT_ADDR: testStack().vault!.address, TEST_VAULT_TOKEN: testStack().vault!.token };
    const keys = testCodecKeys();
    Object.assign(process.env, env, { ROTATOR_CODEC_KEY: codecKeyEnv(keys) });
    const dir = mkdtempSync(join(tmpdir(), 'rotator-l5-'));
    configFile = join(dir, 'secrets.yaml');
    writeFileSync(configFile, yaml, { mode: 0o600 });
    rotator = await startRotator(yaml, env, { keys });
  });
  afterAll(async () => {
    await rotator?.close();
    await new Promise<void>((r) => server.close(() => r()));
    process.env = saved;
  });

  it('validates as written', async () => {
    const run = await cli('validate', configFile);
    expect(run.err).toBe('');
    expect(run.code).toBe(EXIT.OK);
  });

  it('rotates the PostgreSQL credential twice: the idle login each time, the old one revoked, the consumer told', async () => {
    const first = await cli('--config', configFile, 'rotate', name, '--wait');
    expect(first.code).toBe(EXIT.OK);
    const v1 = await readStore(`test/${name}`);
    expect(v1!.data.username).toBe(`${role}_a`);
    expect(await canLogin(String(v1!.data.username), String(v1!.data.password))).toBe(true);

    const second = await cli('--config', configFile, 'rotate', name, '--wait');
    expect(second.code).toBe(EXIT.OK);
    expect(second.out).toContain(`${role}_a → ${role}_b`);
    const v2 = await readStore(`test/${name}`);
    expect(v2!.version).toBe(v1!.version + 1);
    expect(v2!.data.username).toBe(`${role}_b`);
    expect(await canLogin(String(v2!.data.username), String(v2!.data.password))).toBe(true);
    expect(await canLogin(String(v1!.data.username), String(v1!.data.password))).toBe(false);
    const members = await adminQuery(
      `select m.rolname from pg_auth_members am join pg_roles g on g.oid = am.roleid join pg_roles m on m.oid = am.member where g.rolname = $1 order by 1`,
      [role],
    );
    expect(members.map((r) => r.rolname)).toEqual([`${role}_a`, `${role}_b`]);

    // on_rotation's reconnect is a webhook consumer: one signed event per rotation, naming versions, never values.
    expect(received.map((r) => JSON.parse(r.body) as { secret: string; version: string; login: string })).toEqual([
      expect.objectContaining({ secret: name, version: String(v1!.version), login: `${role}_a` }),
      expect.objectContaining({ secret: name, version: String(v2!.version), login: `${role}_b` }),
    ]);
    for (const r of received) {
      const expected = Buffer.from(
        `v1=${createHmac('sha256', hookKey)
          .update(`${String(r.headers['x-rotator-timestamp'])}.${r.body}`)
          .digest('hex')}`,
      );
      const got = Buffer.from(String(r.headers['x-rotator-signature']));
      expect(got.length === expected.length && timingSafeEqual(got, expected)).toBe(true);
    }

    // The spec's URIs read what the rotation published; the value only when asked to reveal it.
    const meta = await cli('--config', configFile, '--json', 'get', `secret://${name}/username`);
    expect(meta.code).toBe(EXIT.OK);
    expect(meta.out).not.toContain(String(v2!.data.password));
    const revealed = await cli('--config', configFile, 'get', `secret://${name}/username`, '--reveal');
    expect(revealed.out).toContain(`${role}_b`);

    const printed = [first, second, meta].map((r) => r.out + r.err).join('\n') + JSON.stringify(received);
    for (const v of [v1, v2]) expect(printed).not.toContain(String(v!.data.password));
  });
});
