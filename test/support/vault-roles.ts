// Roles on the stack's OpenBao database engine, for tests of leased credentials, and a PostgreSQL login probe.
import { Client as PgClient } from 'pg';
import { unique } from './harness';
import { testStack } from './stack';

export const PG_CREATE = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT CONNECT ON DATABASE postgres TO "{{name}}";`;
// DROP ROLE alone fails: the CONNECT grant is an object that depends on the role.
export const PG_REVOKE = `REVOKE ALL ON DATABASE postgres FROM "{{name}}"; DROP ROLE IF EXISTS "{{name}}";`;

export async function vaultCall(method: string, apiPath: string, body?: unknown): Promise<{ status: number; text: string }> {
  const vault = testStack().vault!;
  const res = await fetch(`${vault.address}/v1/${apiPath}`, {
    method,
    headers: { 'X-Vault-Token': vault.token },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

export async function writeRole(name: string, body: Record<string, unknown>): Promise<void> {
  const { status, text } = await vaultCall('POST', `${testStack().vaultDatabase!.mount}/roles/${name}`, body);
  if (status !== 204) throw new Error(`writing role ${name}: ${status} ${text}`);
}

export async function pgRole(ttl: { default_ttl: string; max_ttl: string }, revocation = PG_REVOKE): Promise<string> {
  const name = unique('pg');
  await writeRole(name, {
    db_name: testStack().vaultDatabase!.postgresConnection,
    creation_statements: PG_CREATE,
    revocation_statements: revocation,
    ...ttl,
  });
  return name;
}

export async function redisRole(rules: string[], ttl = { default_ttl: '60s', max_ttl: '600s' }): Promise<string> {
  const name = unique('redis');
  await writeRole(name, {
    db_name: testStack().vaultDatabase!.redisConnection,
    creation_statements: JSON.stringify(rules),
    ...ttl,
  });
  return name;
}

/** 'ok' when the login works, else PostgreSQL's refusal. */
export async function pgLogin(user: string, password: string): Promise<string> {
  const { host, port, database } = testStack().postgres!;
  const client = new PgClient({ host, port, database, user, password, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const res = await client.query<{ who: string }>('select current_user as who');
    return res.rows[0].who === user ? 'ok' : `logged in as ${res.rows[0].who}`;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}
