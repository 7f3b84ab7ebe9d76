// The behaviour every IssuingTarget promises the `issued` rotation strategy, as one suite each issuing target (the HTTP
// hook, IAM access keys, app-generated keys, PKI) runs against its real server. The checks of whether a credential
// works are made without the target's own code (a protected resource, STS with a plain client, a TLS handshake).
import { randomUUID } from 'node:crypto';
import type { IssuedCredential, IssuingTarget, SecretValue } from '../../activities/types';
import type { ErrorCode, RotatorError } from '../../src/kernel/errors';
import { rejectionWithout } from './no-secret';

export interface IssuingTargetUnderTest {
  target: IssuingTarget;
  /** Whether the system accepts the credential, asked the way a consumer would, not through the target's code. */
  works(credential: IssuedCredential): Promise<boolean>;
  /**
   * A credential the system holds before rotator took over (issued by hand, as a person would), for a rotation's
   * `current`; null where a target has no such thing.
   */
  existing(): Promise<IssuedCredential | null>;
  /** Secrets the target works with besides the credentials it issues (an admin key, a signing key): no error may hold one. */
  adminSecrets: string[];
  /** How many live credentials one subject may hold at once (IAM: 2), if the system limits it. */
  maxLive?: number;
  cleanup?(): Promise<void>;
}

/** A stored value's fields that are not the credential's: a rotation copies them as they are. */
const OTHER_FIELDS: SecretValue = { note: 'kept by the operator', port: 443 };

export function describeIssuingTargetContract(name: string, makeTarget: () => Promise<IssuingTargetUnderTest>): void {
  describe(`the ${name} issuing target`, () => {
    let sut: IssuingTargetUnderTest;
    let target: IssuingTarget;
    /** Every secret this suite has seen issued: no error may ever contain one. */
    const issued = new Set<string>();
    /** What a test issued or found: withdrawn after it (withdraw is idempotent), so no test meets another's keys. */
    let live: IssuedCredential[] = [];
    beforeAll(async () => {
      sut = await makeTarget();
      target = sut.target;
    });
    afterEach(async () => {
      for (const c of live) await target.withdraw(c);
      live = [];
    });
    afterAll(async () => {
      await sut?.target.close();
      await sut?.cleanup?.();
    });

    const rejection = (promise: Promise<unknown>, code: ErrorCode): Promise<RotatorError> =>
      rejectionWithout([...issued, ...sut.adminSecrets], promise, code);

    /** A new credential for a new rotation, as the strategy asks for it. */
    const issue = async (current: IssuedCredential | null, rotationId = randomUUID()): Promise<IssuedCredential> => {
      const credential = await target.issue({ rotationId, startedAt: Date.now(), current, value: null });
      issued.add(credential.secret);
      live.push(credential);
      return credential;
    };
    const existing = async (): Promise<IssuedCredential | null> => {
      const credential = await sut.existing();
      if (credential) live.push(credential);
      return credential;
    };

    it('says it issues its own credentials', () => {
      expect(target.issues).toBe(true);
    });

    it('issues a credential the system accepts and verify passes, with an id that is not its secret', async () => {
      const current = await existing();
      const made = await issue(current);
      expect(made.id).not.toBe('');
      expect(made.secret.length).toBeGreaterThanOrEqual(16);
      expect(made.id).not.toContain(made.secret);
      if (current) expect(made.id).not.toBe(current.id);
      expect(await sut.works(made)).toBe(true);
      await expect(target.verify(made, { ...OTHER_FIELDS, ...target.credentialFields(made, current) })).resolves.toMatchObject({
        from: expect.stringMatching(/^(stored value|target connection)$/),
      });
      await target.withdraw(made);
    });

    it('keeps the current credential working beside the new one until it is withdrawn (the overlap)', async () => {
      const current = (await existing()) ?? (await issue(null));
      const made = await issue(current);
      expect(await sut.works(current)).toBe(true);
      expect(await sut.works(made)).toBe(true);
      await target.withdraw(current);
      expect(await sut.works(current)).toBe(false);
      expect(await sut.works(made)).toBe(true);
      await target.withdraw(made);
    });

    it('leaves no second live credential when issue runs again for the same rotation (a worker died before staging)', async () => {
      const current = await existing();
      const rotationId = randomUUID();
      const first = await issue(current, rotationId);
      const again = await issue(current, rotationId);
      const live = [first, again].filter((c, i, all) => all.findIndex((d) => d.id === c.id) === i);
      const working = await Promise.all(live.map((c) => sut.works(c)));
      expect(working.filter(Boolean)).toHaveLength(1);
      expect(await sut.works(again)).toBe(true);
      await target.withdraw(again);
      if (current) await target.withdraw(current);
    });

    it('stores a credential in fields it owns and reads the same credential back from a copy of the value', async () => {
      const made = await issue(null);
      const value: SecretValue = { ...OTHER_FIELDS, ...target.credentialFields(made, null) };
      for (const [field, v] of Object.entries(value)) if (v === undefined) delete value[field];
      const back = target.credentialOf(value);
      expect(back).toMatchObject({ id: made.id, secret: made.secret });
      expect(value).toMatchObject(OTHER_FIELDS);
      expect(target.credentialOf({ ...OTHER_FIELDS })).toBeNull();
      await target.withdraw(made);
    });

    it('fails verify with VERIFY_FAILED naming the credential when its secret is wrong, and says no secret', async () => {
      const made = await issue(null);
      const wrong = { id: made.id, secret: `${made.secret.slice(0, -4)}XXXX` };
      issued.add(wrong.secret);
      const err = await rejection(target.verify(wrong, target.credentialFields(wrong, null) as SecretValue), 'VERIFY_FAILED');
      expect(err.message).toContain(made.id);
      await target.withdraw(made);
    });

    it('withdraws a credential so the system refuses it and verify fails; withdrawing again succeeds', async () => {
      const made = await issue(null);
      await target.withdraw(made);
      expect(await sut.works(made)).toBe(false);
      await rejection(target.verify(made, target.credentialFields(made, null) as SecretValue), 'VERIFY_FAILED');
      await expect(target.withdraw(made)).resolves.toBeUndefined();
    });

    it('suspends and resumes a credential when it declares both (reversible), or declares neither', async () => {
      expect(typeof target.suspend).toBe(typeof target.resume);
      if (!target.suspend || !target.resume) return;
      const made = await issue(null);
      await target.suspend(made);
      await target.suspend(made);
      expect(await sut.works(made)).toBe(false);
      await target.resume(made);
      await target.resume(made);
      expect(await sut.works(made)).toBe(true);
      await target.withdraw(made);
    });

    it('refuses a credential beyond the system’s limit with CONFLICT, and no secret', async () => {
      if (!sut.maxLive) return;
      const made: IssuedCredential[] = [];
      const current = await existing();
      if (current) made.push(current);
      while (made.length < sut.maxLive) made.push(await issue(made.at(-1) ?? null));
      const err = await rejection(issue(made.at(-1)!), 'CONFLICT');
      expect(err.message.length).toBeGreaterThan(0);
      for (const c of made) await target.withdraw(c);
    });
  });
}
