// The PKI side of certificate tests: a PKI mount with a root CA and a role on the stack's OpenBao, its CRL read with
// openssl, and the consumer: a real Node TLS server that reloads its certificate from the store when told to.
import { execFileSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecretValue } from '../../activities/types';
import { testStack } from './stack';

export interface PkiMount {
  mount: string;
  role: string;
  address: string;
  token: string;
  /** Generates a new root CA on the mount and makes it the default issuer (a CA rotation): its PEM. */
  newRootCA(name: string): Promise<string>;
  /** The serials on the mount's CRL (OpenBao's form), read from `<mount>/crl/pem` with `openssl crl`. */
  crlSerials(): Promise<string[]>;
  call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
}

/** `AB12…` (openssl's) → `ab:12:…` (OpenBao's). */
function colon(hex: string): string {
  const bare = hex.toLowerCase();
  return (bare.length % 2 ? `0${bare}` : bare).match(/../g)!.join(':');
}

export async function pkiMount(
  mount: string,
  options: { role?: string; ttl?: string; keyType?: string } = {},
): Promise<PkiMount> {
  const { address, token } = testStack().vault!;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${address}/v1/${path}`, {
      method,
      headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const role = options.role ?? 'web';
  await call('POST', `sys/mounts/${mount}`, { type: 'pki', config: { max_lease_ttl: '87600h' } });
  await call('POST', `${mount}/root/generate/internal`, { common_name: `${mount} root 1`, ttl: '8760h', issuer_name: 'root-1' });
  await call('POST', `${mount}/roles/${role}`, {
    allowed_domains: 'example.test',
    allow_subdomains: true,
    allow_localhost: true,
    allow_ip_sans: true,
    max_ttl: '72h',
    key_type: options.keyType ?? 'ec',
    key_bits: options.keyType === 'rsa' ? 2048 : 256,
  });
  return {
    mount,
    role,
    address,
    token,
    call,
    async newRootCA(name) {
      const made = (await call('POST', `${mount}/root/generate/internal`, {
        common_name: `${mount} ${name}`,
        ttl: '8760h',
        issuer_name: name,
      })) as { data: { certificate: string; issuer_id: string } };
      await call('POST', `${mount}/config/issuers`, { default: made.data.issuer_id });
      return made.data.certificate;
    },
    async crlSerials() {
      // Rebuilt on every revoke (auto_rebuild off, OpenBao's default); the default issuer's CRL.
      const pem = await (await fetch(`${address}/v1/${mount}/crl/pem`)).text();
      const text = execFileSync('openssl', ['crl', '-noout', '-text'], { input: pem }).toString();
      return [...text.matchAll(/Serial Number: ([0-9A-F]+)/gi)].map((m) => colon(m[1]!));
    },
  };
}

/** Every CRL the mount's issuers publish, as serials: after a CA rotation the old CA's CRL holds its revocations. */
export async function crlSerialsOfAllIssuers(p: PkiMount): Promise<string[]> {
  const issuers = ((await p.call('LIST', `${p.mount}/issuers`)) as { data: { keys: string[] } }).data.keys;
  const out: string[] = [];
  for (const id of issuers) {
    const pem = await (await fetch(`${p.address}/v1/${p.mount}/issuer/${id}/crl/pem`)).text();
    const text = execFileSync('openssl', ['crl', '-noout', '-text'], { input: pem }).toString();
    out.push(...[...text.matchAll(/Serial Number: ([0-9A-F]+)/gi)].map((m) => colon(m[1]!)));
  }
  return out;
}

export interface TlsConsumer {
  /** The TLS endpoint clients (and rotator's verify) connect to. */
  host: string;
  port: number;
  /** Where rotator's signed reconnect webhook goes. */
  reloadUrl: string;
  /** How many reloads it made (a reload = read the store's current tls.crt / tls.key, setSecureContext). */
  reloads: number;
  /** A broken consumer: takes the webhook (200) but keeps serving what it has. */
  ignoreReloads: boolean;
  /** Reads the store and serves what it holds now. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real HTTPS server serving the certificate a store holds, and a small HTTP server taking rotator's signed webhook
 * (HMAC-SHA256 over "<timestamp>.<raw body>", as activities/consumers/webhook documents): on a valid one it reads the
 * store again and swaps its certificate and key (tls.Server#setSecureContext), as nginx -s reload would.
 */
export async function startTlsConsumer(options: {
  read: () => Promise<SecretValue | null>;
  signingKey: string;
}): Promise<TlsConsumer> {
  const first = await options.read();
  if (!first) throw new Error('the store holds no certificate yet');
  const https: HttpsServer = createHttpsServer({ cert: String(first['tls.crt']), key: String(first['tls.key']) }, (_req, res) =>
    res.end('ok\n'),
  );
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  const consumer: TlsConsumer = {
    host: '127.0.0.1',
    port: (https.address() as AddressInfo).port,
    reloadUrl: '',
    reloads: 0,
    ignoreReloads: false,
    async reload() {
      const value = await options.read();
      if (!value) return;
      https.setSecureContext({ cert: String(value['tls.crt']), key: String(value['tls.key']) });
      consumer.reloads++;
    },
    async close() {
      https.closeAllConnections();
      await new Promise<void>((r) => https.close(() => r()));
      hook.closeAllConnections();
      await new Promise<void>((r) => hook.close(() => r()));
    },
  };
  const hook: HttpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const expected = Buffer.from(
        `v1=${createHmac('sha256', options.signingKey)
          .update(`${String(req.headers['x-rotator-timestamp'])}.${body}`)
          .digest('hex')}`,
      );
      const got = Buffer.from(String(req.headers['x-rotator-signature'] ?? ''));
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        res.writeHead(401).end();
        return;
      }
      (consumer.ignoreReloads ? Promise.resolve() : consumer.reload()).then(
        () => res.writeHead(200).end(),
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  consumer.reloadUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/reload`;
  return consumer;
}
