// The behaviour every DatabaseTarget promises the rotation workflow, as one suite each target runs against its real server.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { DatabaseTarget, TargetCapabilities } from '../../activities/types';
import type { ErrorCode, RotatorError } from '../../src/kernel/errors';
import { rejectionWithout } from './no-secret';

/** A connection logged in as some login, held open like a consumer that has not reconnected yet. */
export interface OpenSession {
  /** Settles once the server has ended the connection. */
  ended: Promise<void>;
  close(): Promise<void>;
}

export interface TargetUnderTest {
  target: DatabaseTarget;
  /** A login name no other test uses, in the form the rotation derives (`<base>_a`). */
  login(): string;
  /** The cheapest verify command for this target, as `rotation.verify.query` would give it. */
  verifyQuery: string;
  /** Whether the server accepts the credential, asked with a plain client, not the target's own code. */
  canLogin(username: string, password: string): Promise<boolean>;
  /** Needed when the target declares sessionsPerLogin. */
  openSession?(username: string, password: string): Promise<OpenSession>;
  /** The admin password the target manages logins with: no error may contain it either. */
  adminPassword: string;
  /** The server's own log file, which must never receive a password in clear. */
  serverLog: string;
  cleanup?(): Promise<void>;
}

/** Every password this suite has handed to a target; no error and no server log may ever contain one. */
const passwords = new Set<string>();

function password(): string {
  const p = `Pw-${randomBytes(12).toString('hex')}`;
  passwords.add(p);
  return p;
}

/** Polls a condition the server reaches on its own schedule (a backend exiting), up to a deadline. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function describeTargetContract(
  name: string,
  declared: TargetCapabilities,
  makeTarget: () => Promise<TargetUnderTest>,
): void {
  describe(`the ${name} target`, () => {
    let sut: TargetUnderTest;
    let target: DatabaseTarget;
    beforeAll(async () => {
      sut = await makeTarget();
      target = sut.target;
    });
    afterAll(async () => {
      await sut?.target.close();
      await sut?.cleanup?.();
    });

    /** Awaits a rejection, checks it is a RotatorError with `code`, and that it leaks no password, the admin's included. */
    const rejection = (promise: Promise<unknown>, code: ErrorCode): Promise<RotatorError> =>
      rejectionWithout([...passwords, sut.adminPassword], promise, code);

    const verify = (username: string, pw: string) => target.verify({ username, password: pw }, sut.verifyQuery);

    it('declares the capabilities the rotation strategies are chosen by', () => {
      expect(target.capabilities).toEqual(declared);
    });

    it('verifies through the host and port a stored value names (what consumers use), and says so', async () => {
      const user = sut.login();
      const pw = password();
      await target.upsertLogin(user, pw);
      const admin = await verify(user, pw);
      const port = Number(/:(\d+)(?:\/|$)/.exec(admin.endpoint)![1]);
      // The stack listens on 127.0.0.1, the admin's address: localhost is the same server by another name.
      const at = await target.verify({ username: user, password: pw }, sut.verifyQuery, { host: 'localhost', port });
      expect(at).toMatchObject({ from: 'stored value' });
      expect(at.endpoint.startsWith(`localhost:${port}`)).toBe(true);
      // A host consumers could not reach either fails verify (VERIFY_FAILED, or TRANSIENT where the target tells an
      // outage from a refusal), naming where it tried.
      const unreachable = await target
        .verify({ username: user, password: pw }, sut.verifyQuery, { host: 'no-such-host.invalid', port })
        .then(
          () => null,
          (err: unknown) => err as RotatorError,
        );
      expect(unreachable?.code).toMatch(/^(VERIFY_FAILED|TRANSIENT)$/);
      expect(String(unreachable?.message)).toContain(`no-such-host.invalid:${port}`);
      expect(String(unreachable?.message)).not.toContain(pw);
    });

    it('creates a login with upsertLogin that the server accepts and that passes verify', async () => {
      const user = sut.login();
      const pw = password();
      await target.upsertLogin(user, pw);
      expect(await sut.canLogin(user, pw)).toBe(true);
      await expect(verify(user, pw)).resolves.toMatchObject({ from: 'target connection' });
    });

    it('takes a repeated upsertLogin (an activity retried after it succeeded) as harmless, and its new password replaces the old', async () => {
      const user = sut.login();
      const first = password();
      await target.upsertLogin(user, first);
      await target.upsertLogin(user, first);
      await expect(verify(user, first)).resolves.toMatchObject({ from: 'target connection' });

      const second = password();
      await target.upsertLogin(user, second);
      await expect(verify(user, second)).resolves.toMatchObject({ from: 'target connection' });
      expect(await sut.canLogin(user, first)).toBe(false);
    });

    it('replaces the password of an existing login with setPassword, and reports NOT_FOUND for a missing login', async () => {
      const user = sut.login();
      const before = password();
      const after = password();
      await target.upsertLogin(user, before);
      await target.setPassword(user, after);
      expect(await sut.canLogin(user, before)).toBe(false);
      await expect(verify(user, after)).resolves.toMatchObject({ from: 'target connection' });

      const missing = sut.login();
      const unused = password();
      const err = await rejection(target.setPassword(missing, unused), 'NOT_FOUND');
      expect(err.message).toContain(missing);
      expect(await sut.canLogin(missing, unused)).toBe(false);
    });

    it('fails verify with VERIFY_FAILED naming the login when the password is wrong', async () => {
      const user = sut.login();
      await target.upsertLogin(user, password());
      const err = await rejection(verify(user, password()), 'VERIFY_FAILED');
      expect(err.message).toContain(user);
    });

    it('withdraws a login with disableLogin so verify fails and the server refuses it; disabling again or a missing login succeeds', async () => {
      const user = sut.login();
      const pw = password();
      await target.upsertLogin(user, pw);
      await target.disableLogin(user);
      await rejection(verify(user, pw), 'VERIFY_FAILED');
      expect(await sut.canLogin(user, pw)).toBe(false);
      await expect(target.disableLogin(user)).resolves.toBeUndefined();
      await expect(target.disableLogin(sut.login())).resolves.toBeUndefined();
    });

    if (declared.sessionsPerLogin) {
      it('counts an open session of a login, and terminateSessions ends it even after the login was disabled', async () => {
        const user = sut.login();
        const pw = password();
        await target.upsertLogin(user, pw);
        const session = await sut.openSession!(user, pw);
        try {
          expect(await target.liveSessions(user)).toBe(1);
          // revoke's order: disable first, so the ended session cannot come back with the old password
          await target.disableLogin(user);
          expect(await target.terminateSessions(user)).toBe(1);
          await session.ended;
          expect(
            await eventually(
              () => target.liveSessions(user),
              (n) => n === 0,
            ),
          ).toBe(0);
          expect(await target.terminateSessions(sut.login())).toBe(0);
        } finally {
          await session.close();
        }
      });
    } else {
      it('reports no sessions to drain or end, since it cannot count them per login', async () => {
        const user = sut.login();
        await target.upsertLogin(user, password());
        expect(await target.liveSessions(user)).toBe(0);
        expect(await target.terminateSessions(user)).toBe(0);
      });
    }

    if (declared.dualPassword) {
      it('keeps the old password working beside one added with addPassword until removePassword withdraws it', async () => {
        const user = sut.login();
        const old = password();
        const next = password();
        await target.upsertLogin(user, old);
        await target.addPassword(user, next);
        await expect(verify(user, old)).resolves.toMatchObject({ from: 'target connection' });
        await expect(verify(user, next)).resolves.toMatchObject({ from: 'target connection' });

        await target.removePassword(user, old);
        await rejection(verify(user, old), 'VERIFY_FAILED');
        await expect(verify(user, next)).resolves.toMatchObject({ from: 'target connection' });
      });

      it('takes removing a password already gone, or of a missing login, as success, and adding one to a missing login is NOT_FOUND', async () => {
        const user = sut.login();
        const pw = password();
        await target.upsertLogin(user, pw);
        await target.addPassword(user, password());
        await target.removePassword(user, pw);
        await expect(target.removePassword(user, pw)).resolves.toBeUndefined();
        await expect(target.removePassword(sut.login(), pw)).resolves.toBeUndefined();
        await rejection(target.addPassword(sut.login(), password()), 'NOT_FOUND');
      });
    } else {
      it('refuses addPassword and removePassword with UNSUPPORTED, since a login holds one password', async () => {
        const user = sut.login();
        await target.upsertLogin(user, password());
        await rejection(target.addPassword(user, password()), 'UNSUPPORTED');
        await rejection(target.removePassword(user, password()), 'UNSUPPORTED');
      });
    }

    it('puts no password into any error it raises', async () => {
      const user = sut.login();
      const pw = password();
      await target.upsertLogin(user, pw);
      await rejection(verify(user, password()), 'VERIFY_FAILED');
      await rejection(verify(sut.login(), pw), 'VERIFY_FAILED');
      await rejection(target.setPassword(sut.login(), pw), 'NOT_FOUND');
      await target.disableLogin(user);
      await rejection(verify(user, pw), 'VERIFY_FAILED');
      // rejection() has checked each error, stack included, against every password of this suite and the admin's
      expect(passwords.size).toBeGreaterThan(10);
    });

    it('sends no password in clear to where the server logs', () => {
      const log = fs.readFileSync(sut.serverLog, 'utf8');
      for (const p of [...passwords, sut.adminPassword]) expect(log).not.toContain(p);
    });
  });
}
