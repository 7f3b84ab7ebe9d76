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

export const CN = 'api.example.test';

export interface PkiScenario {
  p: PkiMount;
  consumer: TlsConsumer;
  /** The rotated secret's name in the config. */
  secret: string;
  taskQueue: string;
  yaml: string;
  env: Record<string, string>;
  /** The certificate secret's current value in the store. */
  current(): Promise<SecretValue>;
  /** A handshake with the consumer, trusting `ca` (default: the stored ca.crt). */
  served(ca?: string): Promise<import('../../activities/targets/pki/handshake').Handshake>;
  /** Serials of this common name the mount issued that are not revoked. */
  live(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * A certificate secret in the stack's Vault KV, issued once from a fresh PKI mount; the consumer serving it; the
 * config that rotates it with the `issued` strategy and tells the consumer by a signed webhook.
 */
export async function pkiScenario(
  taskQueue: string,
  options: {
    grace?: string;
    within?: string;
    servername?: string;
    form?: 'rotator' | 'l5';
    /** Where verify's handshake goes, when not to the consumer (a replica that never reloads). */
    verifyAt?: { host: string; port: number };
  } = {},
): Promise<PkiScenario> {
  const { randomBytes } = await import('node:crypto');
  const { vaultTestStore } = await import('./test-stores');
  const { unique } = await import('./harness');
  const { pki } = await import('../../activities/targets/pki');
  const { handshake } = await import('../../activities/targets/pki/handshake');
  const p = await pkiMount(unique('pki'));
  const store = vaultTestStore();
  const [admin, hook, secret] = [unique('pki_admin'), unique('hook_key'), unique('cert')];
  const key = randomBytes(32).toString('hex');
  await store.write(admin, { address: p.address, token: p.token });
  await store.write(hook, { key });
  const block = {
    type: 'pki' as const,
    connection: `secret://${admin}`,
    mount: p.mount,
    role: p.role,
    common_name: CN,
    alt_names: ['localhost'],
    ip_sans: ['127.0.0.1'],
    ttl: '1h',
  };
  const seeder = await pki.create(
    { ...block, connection: { provider: 'vault', path: store.configPath(admin) }, verify: { host: '127.0.0.1', port: 1 } },
    { address: p.address, token: p.token },
  );
  const first = await seeder.issue({ startedAt: Date.now(), current: null });
  await store.write(secret, { ...seeder.credentialFields(first, null), owner: 'team-a' } as SecretValue);
  const current = async () => (await store.readCurrent(secret))!.value;
  const consumer = await startTlsConsumer({ read: current, signingKey: key });
  const stack = testStack();
  const target = [
    '    target:',
    '      type: pki',
    `      connection: ${block.connection}`,
    `      mount: ${p.mount}`,
    `      role: ${p.role}`,
    `      common_name: ${CN}`,
    '      alt_names: [localhost]',
    '      ip_sans: [127.0.0.1]',
    '      ttl: 1h',
    '      algorithm: ec',
    `      verify: { host: ${options.verifyAt?.host ?? consumer.host}, port: ${options.verifyAt?.port ?? consumer.port}, servername: ${options.servername ?? CN}, within: ${options.within ?? '5s'} }`,
  ];
  const grace = options.grace ?? '1s';
  const webhook = [
    `url: ${consumer.reloadUrl}`,
    `signing_key: secret://${hook}/key`,
    'attempts: 3',
    'backoff: 50ms',
    'timeout: 5s',
  ];
  // The L5 spec's form: per-secret vault:/auth: blocks, keys:, and rotation.on_rotation (action reconnect = webhook).
  const l5Store = ['    vault: { address: "${VAULT_ADDR}" }', '    auth: { method: token, token: "${TEST_VAULT_TOKEN}" }'];
  const yaml =
    options.form === 'l5'
      ? [
          'temporal:',
          `  address: "${stack.temporal!.address}"`,
          `  task_queue: ${taskQueue}`,
          'secrets:',
          ...[admin, hook].flatMap((n) => [`  ${n}:`, '    provider: vault', `    path: ${store.configPath(n)}`, ...l5Store]),
          `  ${secret}:`,
          '    provider: vault',
          `    path: ${store.configPath(secret)}`,
          '    keys: [tls.crt, tls.key, ca.crt]',
          ...l5Store,
          ...target,
          '    rotation:',
          '      strategy: issued',
          '      on_rotation:',
          '        action: reconnect',
          `        grace_period: ${grace}`,
          ...webhook.map((l) => `        ${l}`),
        ].join('\n')
      : [
          'temporal:',
          `  address: "${stack.temporal!.address}"`,
          `  task_queue: ${taskQueue}`,
          'providers:',
          '  vault:',
          '    type: vault',
          `    address: "${stack.vault!.address}"`,
          '    token: ${TEST_VAULT_TOKEN}',
          'secrets:',
          ...[admin, hook].flatMap((n) => [`  ${n}:`, '    provider: vault', `    path: ${store.configPath(n)}`]),
          `  ${secret}:`,
          '    provider: vault',
          `    path: ${store.configPath(secret)}`,
          ...target,
          '    rotation:',
          '      strategy: issued',
          `      grace_period: ${grace}`,
          '    consumers:',
          `      - type: webhook`,
          ...webhook.map((l) => `        ${l}`),
        ].join('\n');
  return {
    p,
    consumer,
    secret,
    taskQueue,
    yaml: `${yaml}\n`,
    env: { TEST_VAULT_TOKEN: stack.vault!.token, VAULT_ADDR: stack.vault!.address },
    current,
    async served(ca) {
      return handshake({
        host: consumer.host,
        port: consumer.port,
        servername: CN,
        ca: ca ?? String((await current())['ca.crt']),
      });
    },
    async live() {
      const listed = (await p.call('LIST', `${p.mount}/certs/detailed`)) as {
        data: { key_info: Record<string, { common_name: string }> };
      };
      const revoked = new Set(await p.crlSerials());
      return Object.entries(listed.data.key_info)
        .filter(([serial, i]) => i.common_name === CN && !revoked.has(serial))
        .map(([serial]) => serial);
    },
    close: () => consumer.close(),
  };
}
