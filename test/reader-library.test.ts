// The reader library's promise on the real stack (Temporal, OpenBao KV, PostgreSQL 15, a real worker): the example
// app (examples/reader-app) queries through ten alternating-users and ten single-user rotations with zero failed
// queries. Each rotation is held right after applyCredential until the app has finished HELD_QUERIES more queries, so
// every single-user rotation has queries inside its window (database changed, store not yet promoted) by
// construction, not by timing. The same hold with fallback off turns that window into counted failures: the
// assertion of zero failures can fail. A third loop, on a client that gets no reconnect signal, shows alternating-users
// through a stale cache: its cached login is revoked or re-passworded under it, and the store read again serves.
import { followRotation, startRotation } from '../src/client/rotations';
import { createSecretClient, type SecretClient } from '../src/reader';
import { startQueryLoop, type Counts, type QueryLoop } from '../examples/reader-app/app';
import { readerScenario, type ReaderScenario } from './support/reader-scenario';
import { vaultClient } from './support/test-stores';

const ROTATIONS = 10;
const HELD_QUERIES = 5;
/** What the clients log, kept to check that no value is in it. */
const logged: string[] = [];
const log = {
  info: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
  warn: (...args: unknown[]) => void logged.push(JSON.stringify(args)),
};

/** The passwords of the secret's versions Vault still keeps, read from Vault directly. */
async function passwordsOf(secret: string): Promise<string[]> {
  const out: string[] = [];
  const latest = Number((await vaultClient().read(`${s.config.secrets[secret].path}`)).data.metadata.version);
  for (let v = 1; v <= latest; v++) {
    // KV keeps max_versions (10 by default): the oldest may be gone.
    const body = await vaultClient()
      .read(`${s.config.secrets[secret].path}?version=${v}`)
      .catch(() => null);
    if (body) out.push(String(body.data.data.password));
  }
  return out;
}

let s: ReaderScenario;
let open: SecretClient[] = [];
let loops: QueryLoop[] = [];

beforeAll(async () => {
  s = await readerScenario();
});
afterAll(async () => {
  await s?.close();
});
afterEach(async () => {
  s.holdAfterApply(null);
  for (const l of loops) await l.stop();
  for (const c of open) await c.close();
  loops = [];
  open = [];
});

function loop(secrets: SecretClient, secret: string, onFailure: (err: unknown) => void): QueryLoop {
  const started = startQueryLoop(secrets, `secret://${secret}`, { onFailure });
  loops.push(started);
  return started;
}

/** The driver's code of a failed query (28P01: password refused), never its message. */
const codeOf = (err: unknown) => String((err as { code?: unknown }).code ?? (err as Error).name);

/** A client of the test's config; `reconnect: true` makes it the receiver of the webhook consumer's events. */
function secretClient(fallback: boolean, reconnect = true): SecretClient {
  const c = createSecretClient({ config: s.config, fallback, signingKey: s.signingKey, log });
  open.push(c);
  if (reconnect) s.route(c.reconnectHandler());
  return c;
}

/**
 * Holds each rotation of a looped secret after applyCredential until each of its loops finished HELD_QUERIES more
 * queries, plus the one in flight when the window opened (it may have logged in just before the password changed).
 */
function holdFor(looped: Record<string, QueryLoop[]>): void {
  s.holdAfterApply(async (secret) => {
    await Promise.all((looped[secret] ?? []).map((l) => l.finished(l.done + 1 + HELD_QUERIES)));
  });
}

async function rotate(secret: string, times: number): Promise<string[]> {
  const outcomes: string[] = [];
  for (let i = 0; i < times; i++) {
    const { handle } = await startRotation(s.client, s.taskQueue, s.plan(secret));
    const { status } = await followRotation(handle);
    // The error (a code and a sentence, never a value) makes a failed rotation's assertion say why.
    outcomes.push(status.error ? `${status.outcome}: ${status.error.code} ${status.error.message}` : status.outcome);
  }
  return outcomes;
}

const line = (name: string, c: Counts) =>
  `${name}: ok=${c.ok} failed=${c.failed} served current=${c.served.current} pending=${c.served.pending} ` +
  `previous=${c.served.previous} fell back=${c.fellBack}`;

it('the example app makes zero failed queries through ten alternating-users and ten single-user rotations', async () => {
  const secrets = secretClient(true);
  const unsignalled = secretClient(true, false);
  const failures: string[] = [];
  const onFailure = (err: unknown) => failures.push(codeOf(err));
  const altLoop = loop(secrets, s.alternating, onFailure);
  const singleLoop = loop(secrets, s.single, onFailure);
  const staleLoop = loop(unsignalled, s.alternating, onFailure);
  await Promise.all([altLoop, singleLoop, staleLoop].map((l) => l.finished(3)));
  holdFor({ [s.alternating]: [altLoop, staleLoop], [s.single]: [singleLoop] });
  const [alternating, single] = await Promise.all([rotate(s.alternating, ROTATIONS), rotate(s.single, ROTATIONS)]);
  s.holdAfterApply(null);
  const [alt, one, stale] = [await altLoop.stop(), await singleLoop.stop(), await staleLoop.stop()];
  const summary =
    `reader library, fallback on, ${ROTATIONS}+${ROTATIONS} rotations — ${line('alternating-users', alt)}; ` +
    `${line('single-user', one)}; ${line('alternating-users without reconnect signal', stale)}`;
  console.log(summary);

  expect([...alternating, ...single]).toEqual(Array(2 * ROTATIONS).fill('succeeded'));
  expect(failures).toEqual([]);
  expect(alt.failed + one.failed + stale.failed).toBe(0);
  // Every single-user rotation had HELD_QUERIES queries in its window, each served by the staged value.
  expect(one.served.pending).toBeGreaterThanOrEqual(ROTATIONS * HELD_QUERIES);
  expect(alt.ok).toBeGreaterThanOrEqual(3 + ROTATIONS * HELD_QUERIES);
  // From the second rotation on, the unsignalled client's cache holds the login the rotation before revoked (and this
  // one has just given a new password): refused, then served by the store's current credential.
  expect(stale.fellBack).toBeGreaterThanOrEqual(ROTATIONS - 1);
  expect(stale.served.current).toBe(stale.ok);
  // The store moved ten versions on for each secret, and the client holds the last one.
  for (const name of [s.alternating, s.single]) {
    expect((await secrets.get(`secret://${name}`)).version).toBe(String(1 + ROTATIONS));
  }
  // The clients logged (refusals, fallbacks) but never a value; nor do the failures or the summary carry one.
  expect(logged.length).toBeGreaterThan(0);
  const said = [...logged, ...failures, summary].join('\n');
  for (const password of [...(await passwordsOf(s.alternating)), ...(await passwordsOf(s.single))])
    expect(said).not.toContain(password);
});

it('with fallback off, the same held single-user window shows up as failed queries', async () => {
  const secrets = secretClient(false);
  const failures: string[] = [];
  const looped = loop(secrets, s.single, (err) => failures.push(codeOf(err)));
  await looped.finished(3);
  holdFor({ [s.single]: [looped] });
  const rotations = 3;
  const outcomes = await rotate(s.single, rotations);
  s.holdAfterApply(null);
  const counts = await looped.stop();
  console.log(`reader library, fallback off, ${rotations} single-user rotations — ${line('single-user', counts)}`);

  expect(outcomes).toEqual(Array(rotations).fill('succeeded'));
  expect(counts.failed).toBeGreaterThanOrEqual(rotations * HELD_QUERIES);
  // Every failure is PostgreSQL refusing the password (the window), not an outage.
  expect(new Set(failures)).toEqual(new Set(['28P01']));
  expect(counts.served.pending + counts.served.previous).toBe(0);
  expect(counts.ok).toBeGreaterThan(0);
});
