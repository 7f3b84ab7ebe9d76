// Revoke waits for the old login's sessions to drain, up to the bound, then acts as configured.
import { Client as PgClient } from 'pg';
import { followRotation, startRotation } from '../src/client/rotations';
import { canLogin, readStore, startHarness, type Harness } from './support/harness';
import { testStack } from './support/stack';

async function sessionAs(username: string, password: string): Promise<{ client: PgClient; ended: Promise<string> }> {
  const pg = testStack().postgres!;
  const client = new PgClient({ host: pg.host, port: pg.port, database: pg.database, user: username, password });
  const ended = new Promise<string>((resolve) =>
    client.on('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message)),
  );
  await client.connect();
  return { client, ended };
}

describe('draining the old login', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness([
      { extra: 'drain: { timeout: 1s, on_timeout: terminate }' },
      { extra: 'drain: { timeout: 1s, on_timeout: keep }' },
    ]);
  });
  afterAll(() => h.close());

  async function rotate(name: string) {
    const { handle } = await startRotation(h.client, h.taskQueue, h.plan(name));
    return followRotation(handle);
  }

  it('terminates sessions still open after the drain timeout, then the old login is refused', async () => {
    const { name, role } = h.secrets[0];
    expect((await rotate(name)).ok).toBe(true);
    const old = await readStore(`test/${name}`);
    const session = await sessionAs(`${role}_a`, String(old!.data.password));

    const { ok, status } = await rotate(name);
    expect(ok).toBe(true);
    expect(status.notes).toEqual(
      expect.arrayContaining([
        `1 session(s) of ${role}_a still open after the drain timeout`,
        `terminated 1 session(s) of ${role}_a`,
      ]),
    );
    expect(await session.ended).toBe('57P01'); // admin_shutdown: PostgreSQL ended it
    expect(await canLogin(`${role}_a`, String(old!.data.password))).toBe(false);
  });

  it('keeps open sessions when told to, while refusing new logins of the old credential', async () => {
    const { name, role } = h.secrets[1];
    expect((await rotate(name)).ok).toBe(true);
    const old = await readStore(`test/${name}`);
    const session = await sessionAs(`${role}_a`, String(old!.data.password));
    try {
      const { ok, status } = await rotate(name);
      expect(ok).toBe(true);
      expect(status.notes).toContain(`1 session(s) of ${role}_a still open after the drain timeout`);
      expect((await session.client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      expect(await canLogin(`${role}_a`, String(old!.data.password))).toBe(false);
    } finally {
      await session.client.end();
    }
  });
});
