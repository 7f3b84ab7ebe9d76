// A frozen server fails a step's request within its timeout, naming the server; a retry recognises its own earlier
// write. Each test freezes (SIGSTOP) its own private OpenBao or PostgreSQL, never the shared stack's.
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import type vault from 'node-vault';
import { guarded, SLOW_STEP_MS } from '../activities/guarded';
import { Client } from 'pg';
import { VaultKvStore } from '../activities/stores/vault/store';
import { PostgresTarget } from '../activities/targets/postgresql/target';
import { canLogIn, MysqlTarget } from '../activities/targets/mysql/target';
import { createConnection } from 'mysql2/promise';
import { CONNECT_TIMEOUT_MS, REQUEST_TIMEOUT_MS, STEP_TIMEOUT_MS, VERIFY_QUERY_TIMEOUT_MS } from '../activities/timeouts';
import { msToNumber } from '@temporalio/common';
import { RotatorError } from '../src/kernel/errors';
import { COMPENSATE, IRREVERSIBLE, RESTORE, SHORT_IO, VERIFY_LOGIN } from '../workflows/lib/policies';
import { startLocalStack, type LocalStack } from '../src/stack/local-stack';
import { freeze, mariadbPid, postgresPids, thaw, vaultPid } from './support/freeze';

jest.setTimeout(120_000);

const PATH = 'secret/data/frozen/app';

function failureOf(promise: Promise<unknown>): Promise<RotatorError> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err as RotatorError,
  );
}

/**
 * Runs `attempt` as one attempt of the local step `step`, with a 2 s retry budget, while the server's processes `frozen`
 * are stopped: guarded ends the step about 1 s in, while the attempt's first request waits. Then thaws them (the
 * rotation's compensation has run by then, finding nothing of the step's to undo) and returns the attempt, which the
 * server answers now.
 */
async function abandonedWhileFrozen(
  step: string,
  attempt: () => Promise<unknown>,
  frozen: number[],
): Promise<{ attempt: Promise<unknown> }> {
  const env = new MockActivityEnvironment({
    activityType: step,
    isLocal: true,
    scheduleToCloseTimeoutMs: 2_000,
    scheduledTimestampMs: Date.now(),
  });
  let running: Promise<unknown> | undefined;
  const run = guarded(async () => {
    running = attempt();
    return running;
  }, []);
  freeze(frozen);
  try {
    await expect(env.run(run)).rejects.toMatchObject({ message: expect.stringMatching(/retry budget of 2s/) });
  } finally {
    thaw(frozen);
  }
  return { attempt: running! };
}

test('every request times out well within every step that makes it', () => {
  for (const policy of [SHORT_IO, IRREVERSIBLE, COMPENSATE, RESTORE]) {
    const stepMs = msToNumber(policy.startToCloseTimeout!);
    expect(STEP_TIMEOUT_MS).toBeLessThanOrEqual(stepMs);
    // Connecting plus one request, with room left for the step's other work.
    expect(CONNECT_TIMEOUT_MS + REQUEST_TIMEOUT_MS).toBeLessThan(stepMs);
  }
  expect(CONNECT_TIMEOUT_MS + VERIFY_QUERY_TIMEOUT_MS).toBeLessThan(msToNumber(VERIFY_LOGIN.startToCloseTimeout!));
});

describe('OpenBao frozen during promote', () => {
  let stack: LocalStack;
  let pid: number;
  let frozen = false;

  beforeAll(async () => {
    stack = await startLocalStack({ services: ['vault'] });
    pid = vaultPid(stack.vault!.address);
  });
  afterEach(() => {
    if (frozen) thaw([pid]);
    frozen = false;
  });
  afterAll(async () => {
    await stack?.stop();
  });

  function store(): VaultKvStore {
    return new VaultKvStore({ address: stack.vault!.address, token: stack.vault!.token, pendingPrefix: 'rotator-pending' });
  }

  /** Runs `before` once, just before the store's first data write of `path` (the publish) leaves. */
  function beforePublish(s: VaultKvStore, path: string, before: () => Promise<void> | void): void {
    const client = (s as unknown as { client: vault.client }).client;
    const write = client.write.bind(client);
    let done = false;
    client.write = async (apiPath, data, options) => {
      if (!done && apiPath === path) {
        done = true;
        await before();
      }
      return write(apiPath, data, options);
    };
  }

  async function seed(path: string, rotationId: string): Promise<void> {
    const s = store();
    await (s as unknown as { client: vault.client }).client.write(path, { data: { username: 'app', password: 'old' } });
    await s.stagePending(path, rotationId, { username: 'app', password: 'new', sslmode: 'disable' }, '1');
  }

  test('the publish request times out naming OpenBao, and the retry after it resumes succeeds', async () => {
    const path = `${PATH}-resume`;
    await seed(path, 'rotation-resume');
    const first = store();
    beforePublish(first, path, () => {
      freeze([pid]);
      frozen = true;
    });
    // Before request timeouts, this attempt hung until OpenBao resumed, and its write then landed beside the retry.
    const err = await failureOf(first.promote(path, 'rotation-resume', '1'));
    expect(err).toBeInstanceOf(RotatorError);
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toBe(
      `vault at ${stack.vault!.address} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s (publish ${path})`,
    );
    // OpenBao resumes and works through what it had buffered, the abandoned publish among it, while the retry runs.
    thaw([pid]);
    frozen = false;
    const retry = store();
    await expect(retry.promote(path, 'rotation-resume', '1')).resolves.toEqual({ version: '2', previousVersion: '1' });
    const current = await retry.readCurrent(path);
    expect(current).toEqual({ version: '2', value: { username: 'app', password: 'new', sslmode: 'disable' } });
    await expect(retry.publishedBy(path, 'rotation-resume')).resolves.toEqual({ version: '2', previousVersion: '1' });
  });

  test("a retry whose check-and-set meets its own earlier attempt's write finishes the promote", async () => {
    const path = `${PATH}-late`;
    await seed(path, 'rotation-late');
    const retry = store();
    // The earlier attempt's publish (same value, same check-and-set) lands after this attempt checked the version
    // and before its own write: exactly the request a timed-out attempt leaves in flight.
    beforePublish(retry, path, async () => {
      const pending = await store().readPending(path, 'rotation-late');
      await (store() as unknown as { client: vault.client }).client.write(path, {
        data: pending!.value,
        options: { cas: 1 },
      });
    });
    await expect(retry.promote(path, 'rotation-late', '1')).resolves.toEqual({ version: '2', previousVersion: '1' });
    await expect(retry.publishedBy(path, 'rotation-late')).resolves.toEqual({ version: '2', previousVersion: '1' });
  });

  test("the worker's log says which step waits on which system, when it fails and when it is retried", async () => {
    const path = `${PATH}-log`;
    await seed(path, 'rotation-log');
    const entries: LogEntry[] = [];
    const env = new MockActivityEnvironment(
      { activityType: 'promote', attempt: 2 },
      { logger: new DefaultLogger('WARN', (entry) => entries.push(entry)) },
    );
    const plan = { secret: 'orders_db', store: { provider: 'vault', path }, target: { type: 'postgresql' } };
    const s = store();
    const promote = guarded(async (_plan: typeof plan) => s.promote(path, 'rotation-log', '1'), []);
    freeze([pid]);
    frozen = true;
    await expect(env.run(promote, plan)).rejects.toMatchObject({ type: 'TRANSIENT' });
    const step = 'promote of orders_db (store vault, target postgresql)';
    // The SDK's own "Activity failed" line names neither the step's systems nor the secret: ours are the others.
    const ours = entries.filter((e) => e.message !== 'Activity failed');
    // Promote reads the secret's metadata and its pending value at once: whichever times out first is named.
    expect(ours.map((e) => `${e.level} ${e.message}`)).toEqual([
      `WARN retrying ${step}: attempt 2`,
      `WARN ${step} has had no answer for ${SLOW_STEP_MS / 1000}s (attempt 2)`,
      expect.stringMatching(
        new RegExp(
          `^WARN ${step.replace(/[()]/g, '\\$&')} failed \\(attempt 2, TRANSIENT\\): vault at ${stack.vault!.address} did not answer within ` +
            `${REQUEST_TIMEOUT_MS / 1000}s \\(read (metadata|pending) of ${path}\\); Temporal retries it unless its retries are used up$`,
        ),
      ),
    ]);
  });

  test('an attempt its step gave up on writes nothing once OpenBao answers again (the compensation already ran)', async () => {
    const path = `${PATH}-abandoned`;
    const s = store();
    await (s as unknown as { client: vault.client }).client.write(path, { data: { username: 'app', password: 'old' } });
    const { attempt } = await abandonedWhileFrozen(
      'stageCredential',
      () => s.stagePending(path, 'rotation-abandoned', { username: 'app', password: 'newer' }, '1'),
      [pid],
    );
    await expect(attempt).rejects.toThrow(/not sent: stageCredential had already ended/);
    // Nothing was staged: no pending value outlives the rotation that gave up on it.
    expect(await store().readPending(path, 'rotation-abandoned')).toBeNull();
  });

  test('a write by someone else is still a conflict', async () => {
    const path = `${PATH}-other`;
    await seed(path, 'rotation-other');
    const s = store();
    beforePublish(s, path, async () => {
      await (store() as unknown as { client: vault.client }).client.write(path, {
        data: { username: 'app', password: 'by-hand' },
        options: { cas: 1 },
      });
    });
    const err = await failureOf(s.promote(path, 'rotation-other', '1'));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toMatch(/check-and-set failed on publish/);
  });
});

describe('PostgreSQL frozen or down', () => {
  let stack: LocalStack;
  let pids: number[] = [];
  let target: PostgresTarget;

  beforeAll(async () => {
    stack = await startLocalStack({ services: ['postgres'] });
    const pg = stack.postgres!;
    const admin = new Client(pg);
    await admin.connect();
    await admin.query(`create role app login password 'app-secret-1'`);
    await admin.end();
    target = new PostgresTarget(
      { host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password },
      'app_group',
    );
  });
  afterEach(() => {
    thaw(pids);
    pids = [];
  });
  afterAll(async () => {
    await target?.close();
    await stack?.stop();
  });

  test('a statement to a frozen server fails naming PostgreSQL and the action', async () => {
    const { host, port } = stack.postgres!;
    await target.liveSessions('app'); // a pooled connection, to a backend that freezes with the rest
    pids = postgresPids(stack.dir);
    freeze(pids);
    const err = await failureOf(target.liveSessions('app'));
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toBe(
      `PostgreSQL at ${host}:${port} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s (count sessions of app)`,
    );
  });

  test('an attempt its step gave up on sets no password once PostgreSQL answers again (the compensation already ran)', async () => {
    await target.liveSessions('app'); // a pooled connection, to a backend that freezes with the rest
    const { attempt } = await abandonedWhileFrozen(
      'applyCredential',
      () => target.upsertLogin('app_abandoned', 'abandoned-secret-1'),
      postgresPids(stack.dir),
    );
    await expect(attempt).rejects.toThrow(/PostgreSQL .* not sent: applyCredential had already ended/);
    expect(await target.loginExpiry('app_abandoned')).toBeNull();
    const admin = new Client(stack.postgres!);
    await admin.connect();
    const rows = await admin.query(`select 1 from pg_roles where rolname = 'app_abandoned'`).finally(() => admin.end());
    expect(rows.rowCount).toBe(0);
  });

  test('verify against a frozen server is an outage naming PostgreSQL, not a bad credential', async () => {
    const { host, port } = stack.postgres!;
    pids = postgresPids(stack.dir);
    freeze(pids);
    const err = await failureOf(target.verify({ username: 'app', password: 'app-secret-1' }, 'select 1'));
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toBe(
      `PostgreSQL at ${host}:${port} did not accept a connection within ${CONNECT_TIMEOUT_MS / 1000}s (log in as app at ${host}:${port}/${stack.postgres!.database} (target connection) and run the verify query)`,
    );
  });

  test('a refused login is still VERIFY_FAILED', async () => {
    const err = await failureOf(target.verify({ username: 'app', password: 'wrong-password' }, 'select 1'));
    expect(err.code).toBe('VERIFY_FAILED');
    expect(err.message).toMatch(
      /^app could not log in at 127\.0\.0\.1:\d+\/\w+ \(target connection\) and run the verify query: password authentication failed/,
    );
    expect(err.message).not.toContain('wrong-password');
  });

  test('a failing verify query is still VERIFY_FAILED', async () => {
    const err = await failureOf(target.verify({ username: 'app', password: 'app-secret-1' }, 'select * from no_such_table'));
    expect(err.code).toBe('VERIFY_FAILED');
  });

  test('verify against a server that is down is an outage naming PostgreSQL', async () => {
    const { host, port } = stack.postgres!;
    await stack.stop();
    const err = await failureOf(target.verify({ username: 'app', password: 'app-secret-1' }, 'select 1'));
    expect(err.code).toBe('TRANSIENT');
    expect(err.message).toBe(
      `PostgreSQL at ${host}:${port} is unreachable (ECONNREFUSED) (log in as app at ${host}:${port}/${stack.postgres!.database} (target connection) and run the verify query)`,
    );
  });
});

describe('MariaDB frozen', () => {
  let stack: LocalStack;
  let target: MysqlTarget;

  beforeAll(async () => {
    stack = await startLocalStack({ services: ['mariadb'] });
    const admin = await createConnection(stack.mariadb!);
    await admin.query('CREATE ROLE app_role').finally(() => admin.end());
    // With a role: upsertLogin is create, grant the role, make it the default, set the password.
    target = await MysqlTarget.connect(stack.mariadb!, { role: 'app_role' });
  });
  afterAll(async () => {
    await target?.close();
    await stack?.stop();
  });

  test('an attempt its step gave up on sets no password once MariaDB answers again (the compensation already ran)', async () => {
    await target.liveSessions('app'); // a pooled connection, to the server that freezes
    const { attempt } = await abandonedWhileFrozen(
      'applyCredential',
      () => target.upsertLogin('app_abandoned', 'abandoned-secret-1'),
      [mariadbPid(stack.dir)],
    );
    // MariaDB answered the statement the attempt waited on (the locked account it creates); the statements after it
    // (the role's grant, its default, the password that unlocks the account) were not sent.
    await expect(attempt).rejects.toThrow(
      /^MySQL grant role app_role to app_abandoned@% not sent: applyCredential had already ended/,
    );
    const { host, port } = stack.mariadb!;
    expect(await canLogIn({ host, port }, { username: 'app_abandoned', password: 'abandoned-secret-1' })).toBe(false);
    const admin = await createConnection(stack.mariadb!);
    const [granted] = await admin
      .query(`SELECT Role FROM mysql.roles_mapping WHERE User = 'app_abandoned'`)
      .finally(() => admin.end());
    expect(granted).toEqual([]);
  });
});
