// A tiny PostgreSQL client on rotator's reader library: a loop of queries, each on a fresh connection made with the
// credential the library hands out, counting what succeeded, what failed and which credential served.
//
//   npx tsx examples/reader-app/app.ts --config rotator.yaml --uri secret://orders_db [--listen 127.0.0.1:8090]
//
// With --listen it serves the reconnect webhook (point a `webhook` consumer of the secret at it, signing key in
// --signing-key secret://webhook_keys/orders).
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { createSecretClient, type CredentialRole, type ResolvedValue, type SecretClient } from '../../src/reader';

export interface Counts {
  ok: number;
  failed: number;
  served: Record<CredentialRole, number>;
  /** Queries that succeeded only after the current (cached) credential was refused. */
  fellBack: number;
}

export interface QueryLoop {
  readonly counts: Counts;
  /** Resolves once `n` queries (ok or failed) have finished since the loop started, or the loop has stopped. */
  finished(n: number): Promise<void>;
  /** How many queries have finished so far. */
  readonly done: number;
  /** Stops after the query in flight; resolves with the final counts. */
  stop(): Promise<Counts>;
}

/** Where to connect when the secret names no host: a leased credential (type: dynamic) holds a login only. */
export interface Endpoint {
  host: string;
  port?: number;
  database?: string;
}

/** The connection fields of a database secret (AWS's layout, which rotator writes); never the values in a message. */
function connectionOf(
  value: ResolvedValue,
  endpoint?: Endpoint,
): { host: string; port: number; database: string; user: string; password: string } {
  if (typeof value === 'string') throw new Error('expected the whole secret (secret://name), not one field');
  const { username, password } = value;
  const host = value.host ?? endpoint?.host;
  const port = value.port ?? endpoint?.port;
  const dbname = value.dbname ?? endpoint?.database;
  if (typeof username !== 'string' || typeof password !== 'string' || typeof host !== 'string')
    throw new Error('the secret lacks username, password or host');
  return { host, port: Number(port ?? 5432), database: String(dbname ?? 'postgres'), user: username, password };
}

/** One query on its own connection, as a pool whose connections are replaced would make them. */
async function queryOnce(value: ResolvedValue, sql: string, endpoint?: Endpoint): Promise<void> {
  const client = new Client({ ...connectionOf(value, endpoint), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function startQueryLoop(
  secrets: SecretClient,
  uri: string,
  options: { sql?: string; onFailure?: (err: unknown) => void; endpoint?: Endpoint } = {},
): QueryLoop {
  const counts: Counts = { ok: 0, failed: 0, served: { current: 0, pending: 0, previous: 0 }, fellBack: 0 };
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let done = 0;
  let stopping = false;
  const finishedOne = () => {
    done++;
    for (const w of waiters.filter((w) => done >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const running = (async () => {
    while (!stopping) {
      try {
        const { served, refused } = await secrets.withCredential(uri, (value) =>
          queryOnce(value, options.sql ?? 'select 1', options.endpoint),
        );
        counts.ok++;
        counts.served[served]++;
        if (refused.length > 0) counts.fellBack++;
      } catch (err) {
        counts.failed++;
        options.onFailure?.(err);
      }
      finishedOne();
      // A query that fails before any I/O (a closed client) must not starve the event loop.
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  return {
    counts,
    get done() {
      return done;
    },
    finished: (n) => (done >= n || stopping ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    async stop() {
      stopping = true;
      await running;
      for (const w of waiters.splice(0)) w.resolve();
      return counts;
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      uri: { type: 'string' },
      listen: { type: 'string' },
      'signing-key': { type: 'string' },
      'no-fallback': { type: 'boolean', default: false },
      // For a leased secret (type: dynamic without publish:), whose value is a login only.
      host: { type: 'string' },
      port: { type: 'string' },
      database: { type: 'string' },
    },
  });
  if (!values.config || !values.uri) throw new Error('usage: app.ts --config <rotator.yaml> --uri secret://<name>');
  const secrets = createSecretClient({
    configFile: values.config,
    fallback: !values['no-fallback'],
    ...(values['signing-key'] ? { signingKey: values['signing-key'] } : {}),
  });
  if (values.listen) {
    const [host, port] = values.listen.split(':');
    const { url } = await secrets.listen({ host, port: Number(port) });
    console.log(`reconnect webhook at ${url}`);
  }
  secrets.onChange((c) => console.log(`${c.secret}: version ${c.previousVersion ?? '-'} → ${c.version ?? '-'} (${c.reason})`));
  const endpoint = values.host
    ? { host: values.host, port: values.port ? Number(values.port) : undefined, database: values.database }
    : undefined;
  const loop = startQueryLoop(secrets, values.uri, {
    endpoint,
    onFailure: (err) => console.error(`query failed: ${(err as { code?: string }).code ?? (err as Error).name}`),
  });
  const summary = () => {
    const { ok, failed, served, fellBack } = loop.counts;
    console.log(
      `ok=${ok} failed=${failed} served current=${served.current} pending=${served.pending} previous=${served.previous} ` +
        `fell back=${fellBack}`,
    );
  };
  const every = setInterval(summary, 5_000);
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  clearInterval(every);
  await loop.stop();
  summary();
  await secrets.close();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
