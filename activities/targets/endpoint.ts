// Where a login goes: the endpoint a stored value names (what consumers use) or the target's own connection.
import type { SecretValue, VerifiedAt } from '../types';

/** A server a login can reach; `database` only for targets whose logins name one. */
export interface Endpoint {
  host: string;
  port: number;
  database?: string;
}

/** `host:port`, `/database` when there is one; brackets around an IPv6 address. Never a credential. */
export function describeEndpoint(e: Endpoint): string {
  const host = e.host.includes(':') && !e.host.startsWith('[') ? `[${e.host}]` : e.host;
  return `${host}:${e.port}${e.database !== undefined ? `/${e.database}` : ''}`;
}

/** A port as stores keep it: a number, or its digits as text (a Kubernetes Secret, a hand-written JSON). */
function portOf(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/** The host, port and database a stored value names (the JSON layout's `host`, `port`, `dbname`), each if it is usable. */
export function storedEndpoint(value: SecretValue | null | undefined): Partial<Endpoint> {
  if (!value) return {};
  const host = typeof value.host === 'string' && value.host.trim() !== '' ? value.host.trim() : undefined;
  const port = portOf(value.port);
  const database = typeof value.dbname === 'string' && value.dbname !== '' ? value.dbname : undefined;
  return { ...(host ? { host } : {}), ...(port ? { port } : {}), ...(database ? { database } : {}) };
}

/**
 * Where a verify logs in: the stored value's host (and its port and database, where it names them) when it names a
 * host, for that is what consumers of the value connect to; else the target's connection. `database` is used only
 * when the connection has one (targets whose logins name no database ignore `dbname`).
 */
export function loginEndpoint(
  stored: SecretValue | null | undefined,
  connection: Endpoint,
): { endpoint: Endpoint; at: VerifiedAt } {
  const named = storedEndpoint(stored);
  if (!named.host) return { endpoint: connection, at: { endpoint: describeEndpoint(connection), from: 'target connection' } };
  const endpoint: Endpoint = {
    host: named.host,
    port: named.port ?? connection.port,
    ...(connection.database !== undefined ? { database: named.database ?? connection.database } : {}),
  };
  return { endpoint, at: { endpoint: describeEndpoint(endpoint), from: 'stored value' } };
}

/**
 * Why a stored value's host or port disagrees with the target's connection, naming both; null when they agree or the
 * value names neither. Names only: a stored endpoint is never rewritten, a rotation keeps it.
 */
export function endpointDisagreement(stored: SecretValue | null | undefined, connection: Endpoint): string | null {
  const named = storedEndpoint(stored);
  const hostDiffers = named.host !== undefined && named.host.toLowerCase() !== connection.host.toLowerCase();
  const portDiffers = named.port !== undefined && named.port !== connection.port;
  if (!hostDiffers && !portDiffers) return null;
  const storedText = `${named.host ?? '(no host)'}:${named.port ?? '(no port)'}`;
  return `the stored value names ${storedText}, the target connects to ${connection.host}:${connection.port}`;
}
