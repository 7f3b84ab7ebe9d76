// The behaviour every SecretStore promises the rotation workflow, as one suite each store runs against its real server.
import { randomBytes, randomUUID } from 'node:crypto';
import type { ErrorCode, RotatorError } from '../../src/kernel/errors';
import type { StalePendingOptions } from '../../activities/stores/stale-pending';
import type { SecretStore, SecretValue } from '../../activities/types';
import { rejectionWithout } from './no-secret';
import { APP_HOST, rotationRig, type RotationRig, type Strategy } from './rotation-keeps-fields';

export interface StoreUnderTest {
  /** Built with the default options (stale_pending: fail). */
  store: SecretStore;
  /** Another instance on the same server or folder, with other options; the suite closes it. */
  open(options: StalePendingOptions): SecretStore;
  /** A fresh path no other test uses. */
  path: () => string;
  /**
   * false for a store whose API cannot refuse a second pending value (Secrets Manager moves AWSPENDING silently): two
   * rotations staging in the same instant are then told apart only at promote.
   */
  stagesAtomically?: boolean;
  /** false for a store that holds text (or a number) per field, with no nested objects: a Kubernetes Secret. */
  nested?: boolean;
  cleanup?: () => Promise<void>;
}

/** Every password this suite has handed to a store; no error may ever contain one. */
const passwords = new Set<string>();

export function credential(username = 'app_a'): SecretValue {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  passwords.add(password);
  return { username, password, engine: 'postgres', host: 'db.internal', port: 5432, dbname: 'orders' };
}

export { everythingIn } from './no-secret';

/** Awaits a rejection, checks it is a RotatorError with `code`, and that it leaks no password. */
export function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<RotatorError> {
  return rejectionWithout(passwords, promise, code);
}

export interface ContractOptions {
  /**
   * false leaves out "a rotation keeps every field it does not own", which rotates against the stack's PostgreSQL and
   * Redis: a `*.unit.test.ts` (no server) runs the rest, and a server file runs that part with
   * `describeKeepsFieldsContract` (test/azure-gcp-keep-fields.test.ts).
   */
  keepsFields?: boolean;
}

/** Publish `value` the way a rotation does, so every store starts from its own idea of a version. */
async function publishTo(store: SecretStore, path: string, value: SecretValue, expected: string | null): Promise<string> {
  const rotationId = randomUUID();
  await store.stagePending(path, rotationId, value, expected);
  const { version } = await store.promote(path, rotationId, expected);
  await store.discardPending(path, rotationId);
  return version;
}

export function describeStoreContract(
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
  options: ContractOptions = {},
): void {
  describe(`the ${name} store`, () => {
    let sut: StoreUnderTest;
    let store: SecretStore;
    beforeAll(async () => {
      sut = await makeStore();
      store = sut.store;
    });
    afterAll(async () => {
      await sut?.cleanup?.();
      await sut?.store.close();
    });

    const publish = (path: string, value: SecretValue, expected: string | null) => publishTo(store, path, value, expected);

    if (options.keepsFields !== false) describeKeepsFields(() => sut, publish);

    it('declares that it is writable and keeps old versions', () => {
      expect(store.capabilities).toMatchObject({ writable: true, versions: true });
    });

    it("says when the current version was written (the sweep's last rotated), and null for a missing secret", async () => {
      if (!store.publishedAt) return; // optional: the sweep then assesses the secret on failures only
      const path = sut.path();
      expect(await store.publishedAt(path)).toBeNull();
      // Server clocks (moto, Vault) are second-granular or not ours: allow a second each way.
      const before = Date.now() - 1000;
      await publish(path, credential(), null);
      const at = (await store.publishedAt(path))!;
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(Date.now() + 1000);
    });

    it('reads a secret that does not exist as null, with no pending value', async () => {
      const path = sut.path();
      expect(await store.readCurrent(path)).toBeNull();
      expect(await store.readPending(path, randomUUID())).toBeNull();
    });

    it('keeps a staged value from readers until promote, then keeps the replaced value readable as the previous version', async () => {
      const path = sut.path();
      const old = credential('app_a');
      const next = credential('app_b');
      const v1 = await publish(path, old, null);
      const rotationId = randomUUID();
      await store.stagePending(path, rotationId, next, v1);

      expect(await store.readPending(path, rotationId)).toEqual({ value: next, baseVersion: v1 });
      expect(await store.readPending(path, randomUUID())).toBeNull();
      expect(await store.readCurrent(path)).toEqual({ version: v1, value: old });
      expect(await store.publishedBy(path, rotationId)).toBeNull();

      const promoted = await store.promote(path, rotationId, v1);
      expect(promoted.previousVersion).toBe(v1);
      expect(promoted.version).not.toBe(v1);
      expect(await store.readCurrent(path)).toEqual({ version: promoted.version, value: next });
      expect(await store.readVersion(path, v1)).toEqual(old);
      expect(await store.readVersion(path, promoted.version)).toEqual(next);
      expect(await store.publishedBy(path, rotationId)).toEqual(promoted);
    });

    it('keeps the pending value as the rotation claim after promote, with its base version, until it is discarded', async () => {
      const path = sut.path();
      const v1 = await publish(path, credential('app_a'), null);
      const rotationId = randomUUID();
      const next = credential('app_b');
      await store.stagePending(path, rotationId, next, v1);
      const promoted = await store.promote(path, rotationId, v1);

      // A rotation re-run after a worker death reads back what it chose and what it replaced.
      expect(await store.readPending(path, rotationId)).toEqual({ value: next, baseVersion: v1 });
      const other = randomUUID();
      expect(await store.otherPending(path, other)).toBeTruthy();
      await rejection(store.stagePending(path, other, credential('app_a'), promoted.version), 'CONFLICT');

      await store.discardPending(path, rotationId);
      expect(await store.readPending(path, rotationId)).toBeNull();
      expect(await store.otherPending(path, other)).toBeNull();
      expect(await store.publishedBy(path, rotationId)).toEqual(promoted); // still known after the claim ended
      expect(await store.readCurrent(path)).toEqual({ version: promoted.version, value: next });
    });

    it('gives the pending slot to exactly one of two rotations that stage at the same moment', async () => {
      if (sut.stagesAtomically === false) return;
      const path = sut.path();
      const v1 = await publish(path, credential('app_a'), null);
      const [r1, r2] = [randomUUID(), randomUUID()];
      const results = await Promise.allSettled([
        store.stagePending(path, r1, credential('app_b'), v1),
        store.stagePending(path, r2, credential('app_b'), v1),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
      expect(lost.reason).toMatchObject({ code: 'CONFLICT' });
      const winners = [await store.readPending(path, r1), await store.readPending(path, r2)].filter(Boolean);
      expect(winners).toHaveLength(1);
    });

    it('keeps the first value when a stage of the same rotation is retried', async () => {
      const path = sut.path();
      const rotationId = `retry-${randomBytes(3).toString('hex')}`; // short ids must work too
      const first = credential();
      await store.stagePending(path, rotationId, first, null);
      await store.stagePending(path, rotationId, credential(), null);
      expect((await store.readPending(path, rotationId))?.value).toEqual(first);
      expect(await store.readCurrent(path)).toBeNull();
    });

    it('returns the same version and changes nothing when promote is retried after it succeeded', async () => {
      const path = sut.path();
      const old = credential();
      const next = credential();
      const v1 = await publish(path, old, null);
      const rotationId = randomUUID();
      await store.stagePending(path, rotationId, next, null);
      const first = await store.promote(path, rotationId, v1);
      const again = await store.promote(path, rotationId, v1);
      expect(again).toEqual(first);
      expect(await store.readCurrent(path)).toEqual({ version: first.version, value: next });
      expect(await store.readVersion(path, v1)).toEqual(old);
    });

    it('refuses to promote with CONFLICT when current is no longer the expected version', async () => {
      const path = sut.path();
      const v1 = await publish(path, credential(), null);
      const other = credential();
      const v2 = await publish(path, other, v1); // published by someone else after we read v1
      const rotationId = randomUUID();
      const mine = credential();
      await store.stagePending(path, rotationId, mine, null);

      const err = await rejection(store.promote(path, rotationId, v1), 'CONFLICT');
      expect(err.message).toContain(path);
      await rejection(store.promote(path, rotationId, null), 'CONFLICT');
      expect(await store.readCurrent(path)).toEqual({ version: v2, value: other });
      expect((await store.readPending(path, rotationId))?.value).toEqual(mine); // still there to discard
    });

    it('discards only its own pending value, twice without complaint, and cannot promote it afterwards', async () => {
      const path = sut.path();
      await store.discardPending(path, randomUUID()); // nothing there at all
      const v1 = await publish(path, credential(), null);
      const mine = randomUUID();
      const theirs = randomUUID();
      await store.stagePending(path, mine, credential(), null);
      await store.discardPending(path, theirs);
      expect(await store.readPending(path, mine)).not.toBeNull();

      await store.discardPending(path, mine);
      await store.discardPending(path, mine);
      expect(await store.readPending(path, mine)).toBeNull();
      await rejection(store.promote(path, mine, v1), 'NOT_FOUND');
      expect((await store.readCurrent(path))?.version).toBe(v1);
    });

    it('makes the old value current again on rollback, and a repeated rollback changes nothing', async () => {
      const path = sut.path();
      const old = credential();
      const v1 = await publish(path, old, null);
      const rotationId = randomUUID();
      await store.stagePending(path, rotationId, credential(), null);
      const { version: v2 } = await store.promote(path, rotationId, v1);

      await store.rollback(path, rotationId, { toVersion: v1, fromVersion: v2 });
      const restored = await store.readCurrent(path);
      expect(restored?.value).toEqual(old);
      await store.rollback(path, rotationId, { toVersion: v1, fromVersion: v2 });
      expect(await store.readCurrent(path)).toEqual(restored);
      expect(await store.publishedBy(path, rotationId)).toBeNull();
      // the claim ends with the rotation, after every other undo
      expect(await store.readPending(path, rotationId)).not.toBeNull();
      await store.discardPending(path, rotationId);
      expect(await store.readPending(path, rotationId)).toBeNull();
    });

    it('publishes a first-ever value on a missing secret, and its rollback leaves no current value again', async () => {
      const path = sut.path();
      const rotationId = randomUUID();
      const first = credential();
      await store.stagePending(path, rotationId, first, null);
      expect(await store.readCurrent(path)).toBeNull(); // staging a new secret must not publish it

      const promoted = await store.promote(path, rotationId, null);
      expect(promoted.previousVersion).toBeNull();
      expect(await store.readCurrent(path)).toEqual({ version: promoted.version, value: first });
      expect(await store.promote(path, rotationId, null)).toEqual(promoted);

      await store.rollback(path, rotationId, { toVersion: null, fromVersion: promoted.version });
      expect(await store.readCurrent(path)).toBeNull();
      await store.rollback(path, rotationId, { toVersion: null, fromVersion: promoted.version });
      expect(await store.readCurrent(path)).toBeNull();
      await store.discardPending(path, rotationId);

      // and the next rotation starts from "nothing there" again
      const retry = randomUUID();
      const second = credential();
      await store.stagePending(path, retry, second, null);
      const again = await store.promote(path, retry, null);
      expect(await store.readCurrent(path)).toEqual({ version: again.version, value: second });
    });

    it('refuses with CONFLICT to roll back over a version published after this rotation', async () => {
      const path = sut.path();
      const v1 = await publish(path, credential(), null);
      const rotationId = randomUUID();
      await store.stagePending(path, rotationId, credential(), null);
      const { version: v2 } = await store.promote(path, rotationId, v1);
      await store.discardPending(path, rotationId);
      const later = credential();
      const v3 = await publish(path, later, v2);

      await rejection(store.rollback(path, rotationId, { toVersion: v1, fromVersion: v2 }), 'CONFLICT');
      expect(await store.readCurrent(path)).toEqual({ version: v3, value: later });
    });

    describe('with a pending value another rotation left behind', () => {
      async function leftBehind(): Promise<{
        path: string;
        v1: string;
        current: SecretValue;
        stale: string;
        staleValue: SecretValue;
      }> {
        const path = sut.path();
        const current = credential('app_a');
        const v1 = await publish(path, current, null);
        const stale = randomUUID();
        const staleValue = credential('app_b');
        await store.stagePending(path, stale, staleValue, null);
        return { path, v1, current, stale, staleValue };
      }

      it('refuses to stage with CONFLICT under stale_pending: fail, naming the secret and the leftover, and changes nothing', async () => {
        const { path, v1, current, stale, staleValue } = await leftBehind();
        const mine = randomUUID();
        const err = await rejection(store.stagePending(path, mine, credential('app_b'), null), 'CONFLICT');
        expect(err.message).toContain(path);
        expect(err.message).toContain(stale);
        expect(err.message).toContain('stale_pending: replace');
        expect((await store.readPending(path, stale))?.value).toEqual(staleValue);
        expect(await store.readPending(path, mine)).toBeNull();
        expect(await store.readCurrent(path)).toEqual({ version: v1, value: current });
      });

      it('drops the leftover under stale_pending: replace, logs which one, and the rotation goes on to promote', async () => {
        const { path, v1, stale } = await leftBehind();
        const warnings: Array<{ message: string; fields: Record<string, string> }> = [];
        const replacing = sut.open({ stalePending: 'replace', warn: (message, fields) => warnings.push({ message, fields }) });
        try {
          const mine = randomUUID();
          const next = credential('app_b');
          await replacing.stagePending(path, mine, next, null);
          expect(warnings).toHaveLength(1);
          expect(warnings[0].message).toContain('stale');
          expect(warnings[0].fields.path).toBe(path);
          expect(JSON.stringify(warnings[0].fields)).toContain(stale);
          for (const p of passwords) expect(JSON.stringify(warnings)).not.toContain(p);
          expect(await replacing.readPending(path, stale)).toBeNull();
          expect((await replacing.readPending(path, mine))?.value).toEqual(next);

          await replacing.stagePending(path, mine, credential(), null); // a retried stage is ours, not stale
          expect(warnings).toHaveLength(1);
          expect(await replacing.promote(path, mine, v1)).toMatchObject({ previousVersion: v1 });
          expect((await replacing.readCurrent(path))?.value).toEqual(next);
        } finally {
          await replacing.close();
        }
      });
    });

    it('puts no secret value into any error it raises', async () => {
      const path = sut.path();
      const old = credential();
      const v1 = await publish(path, old, null);
      const rotationId = randomUUID();
      const next = credential();
      await rejection(store.promote(path, rotationId, v1), 'NOT_FOUND');
      await store.stagePending(path, rotationId, next, null);
      await rejection(store.promote(path, rotationId, null), 'CONFLICT');
      const { version: v2 } = await store.promote(path, rotationId, v1);
      await store.discardPending(path, rotationId);
      await publish(path, credential(), v2);
      await rejection(store.rollback(path, rotationId, { toVersion: v1, fromVersion: v2 }), 'CONFLICT');
      // rejection() has checked each error against every password this suite generated, old and next included
      expect(passwords.has(old.password!) && passwords.has(next.password!)).toBe(true);
    });
  });
}

/** "A rotation keeps every field it does not own" (issue 19), inside a store's describe: needs the server stack. */
function describeKeepsFields(
  sut: () => StoreUnderTest,
  publish: (path: string, value: SecretValue, expected: string | null) => Promise<string>,
): void {
  describe('a rotation keeps every field it does not own', () => {
    let rig: RotationRig;
    beforeAll(async () => {
      rig = await rotationRig(sut().store, publish);
    });
    afterAll(() => rig?.close());

    it.each<Strategy>(['single-user', 'alternating-users', 'dual-password'])(
      '%s: after two rotations every extra field, its type and its place are as before, the credential is new, and verify logged in where the value says',
      async (strategy) => {
        const extras: SecretValue = {
          sslmode: 'verify-full',
          pool_size: 12,
          ratio: 0.25,
          dbInstanceIdentifier: 'orders-prod',
          ...(sut().nested !== false ? { options: { application_name: 'orders', replicas: ['r1', 'r2'], tls: true } } : {}),
        };
        const path = sut().path();
        const { plan } = await rig.seed(strategy, path, extras);
        const before = (await sut().store.readCurrent(path))!.value;
        const seen: SecretValue[] = [before];
        for (let i = 0; i < 2; i++) {
          const at = await rig.rotate(plan);
          expect(at.from).toBe('stored value');
          expect(at.endpoint.startsWith(`${APP_HOST}:`)).toBe(true);
          seen.push((await sut().store.readCurrent(path))!.value);
        }
        const after = seen[2];
        const { username: _u, password: _p, ...keptBefore } = before;
        const { username: _u2, password: _p2, ...keptAfter } = after;
        expect(keptAfter).toStrictEqual(keptBefore); // values and types: port a number, options an object
        expect(Object.keys(after)).toEqual(Object.keys(before)); // each field where the store had it
        expect(after.host).toBe(APP_HOST); // never the admin's 127.0.0.1
        expect(new Set(seen.map((v) => v.password)).size).toBe(3);
        if (strategy === 'alternating-users') {
          expect(seen.map((v) => v.username)).toEqual([`${plan.login}_a`, `${plan.login}_b`, `${plan.login}_a`]);
        } else {
          expect(after.username).toBe(before.username);
        }
        expect(await rig.logsIn(strategy, after)).toBe(true);
      },
    );
  });
}

/** Only "a rotation keeps every field it does not own", for a store whose other contract runs in a unit file. */
export function describeKeepsFieldsContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`the ${name} store`, () => {
    let sut: StoreUnderTest;
    beforeAll(async () => {
      sut = await makeStore();
    });
    afterAll(async () => {
      await sut?.cleanup?.();
      await sut?.store.close();
    });
    describeKeepsFields(
      () => sut,
      (path, value, expected) => publishTo(sut.store, path, value, expected),
    );
  });
}
