// The rotation spine end to end: real Temporal, real OpenBao, real PostgreSQL.
import { followRotation, queryStatus, startRotation } from '../src/client/rotations';
import { adminQuery, canLogin, readStore, startHarness, type Harness } from './support/harness';

async function rotate(h: Harness, secret: string) {
  const { handle } = await startRotation(h.client, h.taskQueue, h.plan(secret));
  return followRotation(handle);
}

function cred(entry: { data: Record<string, unknown> } | null): { username: string; password: string } {
  return { username: String(entry?.data.username), password: String(entry?.data.password) };
}

describe('alternating-users', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ strategy: 'alternating-users' }, { strategy: 'alternating-users' }]);
  });
  afterAll(() => h.close());

  it('rotates to the idle login, publishes it, and revokes the old one', async () => {
    const { name, role } = h.secrets[0];
    const first = await rotate(h, name);
    expect(first.ok).toBe(true);
    expect(first.status.username).toBe(`${role}_a`);
    const v1 = await readStore(`test/${name}`);
    expect(cred(v1).username).toBe(`${role}_a`);
    expect(await canLogin(cred(v1).username, cred(v1).password)).toBe(true);

    const second = await rotate(h, name);
    expect(second.ok).toBe(true);
    expect(second.status).toMatchObject({
      outcome: 'succeeded',
      username: `${role}_b`,
      previousUsername: `${role}_a`,
      revokedUsername: `${role}_a`,
    });
    expect(second.status.phases.map((p) => p.name)).toEqual(['create', 'publish', 'reconnect', 'verify', 'revoke']);
    const v2 = await readStore(`test/${name}`);
    expect(v2!.version).toBe(v1!.version + 1);
    expect(cred(v2).username).toBe(`${role}_b`);
    expect(await canLogin(cred(v2).username, cred(v2).password)).toBe(true);
    // the old credential, still readable as the previous version, is refused after revoke
    expect(await canLogin(cred(v1).username, cred(v1).password)).toBe(false);
    const previous = await readStore(`test/${name}`, String(v1!.version));
    expect(cred(previous)).toEqual(cred(v1));
    // no pending credential is left behind
    expect(await readStore(`rotator-pending/test/${name}`)).toBeNull();
    // both logins hold their rights only through the group role
    const members = await adminQuery(
      `select m.rolname from pg_auth_members am join pg_roles g on g.oid = am.roleid join pg_roles m on m.oid = am.member where g.rolname = $1 order by 1`,
      [role],
    );
    expect(members.map((r) => r.rolname)).toEqual([`${role}_a`, `${role}_b`]);
  });

  it('rolls back to the old credential when the new login cannot connect', async () => {
    const { name, role } = h.secrets[1];
    expect((await rotate(h, name)).ok).toBe(true); // <role>_a is current
    const before = await readStore(`test/${name}`);
    // A real refusal from the server: the idle login may not open any connection.
    await adminQuery(`create role ${role}_b connection limit 0`);

    const failed = await rotate(h, name);
    expect(failed.ok).toBe(false);
    expect(failed.status.outcome).toBe('rolled-back');
    expect(failed.status.error?.code).toBe('VERIFY_FAILED');
    // The new login is checked before anything is published, so consumers never see it.
    expect(failed.status.phases.map((p) => p.name)).toEqual(['create', 'rollback']);

    const after = await readStore(`test/${name}`);
    expect(cred(after)).toEqual(cred(before)); // store current = old
    expect(await canLogin(cred(before).username, cred(before).password)).toBe(true); // old still logs in
    const idle = await adminQuery('select rolcanlogin, rolpassword is null as no_password from pg_authid where rolname = $1', [
      `${role}_b`,
    ]);
    expect(idle[0]).toEqual({ rolcanlogin: false, no_password: true }); // new one removed
    expect(await readStore(`rotator-pending/test/${name}`)).toBeNull();
    expect(JSON.stringify(failed.status)).not.toContain(cred(before).password);
  });
});

describe('single-user', () => {
  let h: Harness;
  const oldPassword = 'Old-Passw0rd-for-single-user';
  beforeAll(async () => {
    h = await startHarness([
      { strategy: 'single-user' },
      { strategy: 'single-user', extra: 'verify: { query: "select * from no_such_table" }' },
    ]);
    for (const { name, role } of h.secrets) {
      await adminQuery(`create role ${role} login password '${oldPassword}'`);
      const pg = (await import('./support/stack')).testStack().postgres!;
      await (await import('./support/harness')).vaultClient().write(`secret/data/test/${name}`, {
        data: { username: role, password: oldPassword, host: pg.host, port: pg.port, dbname: pg.database, engine: 'postgres' },
      });
    }
  });
  afterAll(() => h.close());

  it('sets a new password on the one login, verifies it, then promotes it keeping the old as previous', async () => {
    const { name, role } = h.secrets[0];
    const result = await rotate(h, name);
    expect(result.ok).toBe(true);
    expect(result.status.phases.map((p) => p.name)).toEqual(['create', 'verify', 'publish', 'reconnect', 'revoke']);
    const current = await readStore(`test/${name}`);
    expect(cred(current).username).toBe(role);
    expect(cred(current).password).not.toBe(oldPassword);
    expect(await canLogin(role, cred(current).password)).toBe(true);
    expect(await canLogin(role, oldPassword)).toBe(false);
    expect(cred(await readStore(`test/${name}`, String(current!.version - 1))).password).toBe(oldPassword);
  });

  it('puts the old password back when the verify query fails', async () => {
    const { name, role } = h.secrets[1];
    const before = await readStore(`test/${name}`);
    const result = await rotate(h, name);
    expect(result.ok).toBe(false);
    expect(result.status).toMatchObject({ outcome: 'rolled-back', error: { code: 'VERIFY_FAILED' } });
    const after = await readStore(`test/${name}`);
    expect(after!.version).toBe(before!.version); // never published
    expect(await canLogin(role, oldPassword)).toBe(true);
    expect(await readStore(`rotator-pending/test/${name}`)).toBeNull();
  });
});

describe('single-user without a stored credential', () => {
  it('changes nothing: a new password it could not undo would lock the login out', async () => {
    const h = await startHarness([{ strategy: 'single-user' }]);
    try {
      const { name, role } = h.secrets[0];
      await adminQuery(`create role ${role} login password 'Unknown-to-rotator-1'`);
      const { ok, status } = await rotate(h, name);
      expect(ok).toBe(false);
      expect(status.error).toMatchObject({ code: 'NOT_FOUND' });
      expect(status.error?.message).toContain('store it there first');
      expect(await canLogin(role, 'Unknown-to-rotator-1')).toBe(true);
      expect(await readStore(`test/${name}`)).toBeNull();
    } finally {
      await h.close();
    }
  });
});

describe('cancellation', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ extra: 'reconnect: { wait: 30s }' }]);
  });
  afterAll(() => h.close());

  it('rolls back a rotation cancelled after publish: nothing published, the new login disabled', async () => {
    const { name, role } = h.secrets[0];
    const { handle } = await startRotation(h.client, h.taskQueue, h.plan(name));
    for (let i = 0; i < 300 && (await queryStatus(handle)).phase !== 'reconnect'; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await readStore(`test/${name}`))?.data.username).toBe(`${role}_a`); // published, waiting for consumers
    await handle.cancel();
    const { ok, status } = await followRotation(handle);
    expect(ok).toBe(false);
    expect(status).toMatchObject({ outcome: 'rolled-back', error: { code: 'CANCELLED' } });
    expect(await readStore(`test/${name}`)).toBeNull(); // there was no earlier version to go back to
    const login = await adminQuery('select rolcanlogin from pg_roles where rolname = $1', [`${role}_a`]);
    expect(login).toEqual([{ rolcanlogin: false }]);
  });
});

describe('one rotation per secret', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([{ extra: 'reconnect: { wait: 1s }' }]);
  });
  afterAll(() => h.close());

  it('two rotate calls at once start one rotation; the second attaches to it', async () => {
    const plan = h.plan(h.secrets[0].name);
    const [a, b] = await Promise.all([startRotation(h.client, h.taskQueue, plan), startRotation(h.client, h.taskQueue, plan)]);
    expect([a.started, b.started].sort()).toEqual([false, true]);
    const [ra, rb] = await Promise.all([followRotation(a.handle), followRotation(b.handle)]);
    expect(ra.status.rotationId).toBe(rb.status.rotationId);
    const runs = [];
    for await (const wf of h.client.workflow.list({ query: `WorkflowId = 'rotate/${plan.secret}'` })) runs.push(wf.runId);
    expect(runs).toHaveLength(1);
    expect((await readStore(`test/${plan.secret}`))!.version).toBe(1);
  });
});
