// A protocol-faithful fake of the Azure Key Vault secrets REST API, for the azure-key-vault store's tests.
//
// What it is: an HTTPS server (the test's own certificate) answering the requests @azure/keyvault-secrets makes, as
// the REST reference documents them (Set Secret, Get Secret — latest and by version —, Update Secret, Get Secret
// Versions with nextLink paging):
//   - every request needs `api-version`; without `Authorization: Bearer <token>` it is answered 401 with the
//     challenge `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
//     resource="https://vault.azure.net"`, and a wrong token is 401 too (Unauthorized);
//   - PUT /secrets/{name} adds a version (32 hex characters) that becomes the latest; GET /secrets/{name}/ serves
//     the latest, GET /secrets/{name}/{version} that one; PATCH changes a version's tags, contentType and
//     `attributes.enabled`; a disabled version is 403 Forbidden (SecretDisabled) to GET, as the service answers;
//   - bodies are SecretBundle/SecretItem shaped: {value, id: "https://host/secrets/name/version", contentType,
//     attributes: {enabled, created, updated (Unix seconds), recoveryLevel}, tags}; names are case-insensitive;
//   - a missing secret or version is 404 {error: {code: "SecretNotFound"}}; a malformed name 400 BadParameter.
//
// What it proves: that the store speaks the documented protocol through the real SDK (challenge, token, paths,
// bodies, paging) and handles the documented answers (404, 401, 403 on a disabled version).
// What it does not prove: real-service quirks (throttling and 429 Retry-After, replication between regions, how
// fast a write is visible to a list), Entra ID and RBAC or access policies, soft-delete and purge (this fake never
// deletes; the store never does either), quotas and size limits, certificate-backed secrets, or CAE claims challenges.
import { randomBytes } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface FakeKeyVault {
  /** https://127.0.0.1:<port> (the certificate must name IP 127.0.0.1) */
  url: string;
  /** The bearer token the fake accepts. */
  token: string;
  /** Requests answered 401 so far (the challenge, or a bad token). */
  unauthorized: number;
  /** Every request seen, as `METHOD /path`; for tests that check what the SDK sent. */
  requests: string[];
  stop(): Promise<void>;
}

interface Version {
  id: string;
  value: string;
  contentType?: string;
  tags: Record<string, string>;
  enabled: boolean;
  created: number;
  updated: number;
}

interface StoredSecret {
  name: string;
  versions: Version[];
}

const NAME = /^[0-9a-zA-Z-]{1,127}$/;
const PAGE = 25;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

export async function startFakeKeyVault(tls: { key: string; cert: string }): Promise<FakeKeyVault> {
  const token = `fake-kv-${randomBytes(16).toString('hex')}`;
  const secrets = new Map<string, StoredSecret>();
  const state = { unauthorized: 0, requests: [] as string[] };
  let origin = '';

  const bundle = (s: StoredSecret, v: Version, withValue: boolean) => ({
    ...(withValue ? { value: v.value } : {}),
    id: `${origin}/secrets/${s.name}/${v.id}`,
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    attributes: {
      enabled: v.enabled,
      created: v.created,
      updated: v.updated,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    },
    tags: v.tags,
  });

  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', origin);
      state.requests.push(`${req.method} ${url.pathname}`);
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      const fail = (status: number, code: string, message: string, inner?: string) =>
        send(status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } });

      if (!url.searchParams.get('api-version'))
        return fail(400, 'BadParameter', 'The request URI contains an invalid or missing api-version.');
      const auth = req.headers.authorization;
      if (auth !== `Bearer ${token}`) {
        state.unauthorized++;
        const challenge = `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`;
        res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': challenge });
        res.end(
          JSON.stringify({
            error: {
              code: 'Unauthorized',
              message: auth ? 'AKV10032: Invalid issuer or token.' : 'AKV10000: Request is missing a Bearer or PoP token.',
            },
          }),
        );
        return;
      }

      const parts = url.pathname.split('/').filter(Boolean);
      if (parts[0] !== 'secrets' || parts.length < 2 || parts.length > 3) return fail(404, 'NotFound', 'No such operation.');
      const name = decodeURIComponent(parts[1]!);
      if (!NAME.test(name))
        return fail(
          400,
          'BadParameter',
          'The secret name must be a string 1-127 characters in length containing only 0-9, a-z, A-Z, and -.',
        );
      const key = name.toLowerCase();
      const notFound = () =>
        fail(
          404,
          'SecretNotFound',
          `A secret with (name/id) ${name}${parts[2] ? `/${parts[2]}` : ''} was not found in this key vault.`,
        );
      let body: Record<string, unknown> = {};
      if (chunks.length > 0) {
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return fail(400, 'BadParameter', 'The request body is not valid JSON.');
        }
      }
      const now = Math.floor(Date.now() / 1000);

      // PUT /secrets/{name}: Set Secret, a new version that becomes the latest.
      if (req.method === 'PUT' && parts.length === 2) {
        if (typeof body.value !== 'string') return fail(400, 'BadParameter', 'Property value is required.');
        const attributes = (body.attributes ?? {}) as { enabled?: boolean };
        const secret = secrets.get(key) ?? { name, versions: [] };
        secrets.set(key, secret);
        const v: Version = {
          id: randomBytes(16).toString('hex'),
          value: body.value,
          ...(typeof body.contentType === 'string' ? { contentType: body.contentType } : {}),
          tags: (body.tags ?? {}) as Record<string, string>,
          enabled: attributes.enabled ?? true,
          created: now,
          updated: now,
        };
        secret.versions.push(v);
        return send(200, bundle(secret, v, true));
      }

      const secret = secrets.get(key);
      // GET /secrets/{name}/versions: Get Secret Versions, paged by nextLink.
      if (req.method === 'GET' && parts[2] === 'versions') {
        if (!secret) return notFound();
        const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
        const size = Math.min(Number(url.searchParams.get('maxresults') ?? PAGE), PAGE);
        const page = secret.versions.slice(skip, skip + size);
        const next = skip + size < secret.versions.length;
        const nextLink = next
          ? `${origin}/secrets/${secret.name}/versions?api-version=${url.searchParams.get('api-version')}&$skiptoken=${skip + size}&maxresults=${size}`
          : null;
        return send(200, { value: page.map((v) => bundle(secret, v, false)), nextLink });
      }
      if (!secret) return notFound();
      const version = parts[2] ? secret.versions.find((v) => v.id === parts[2]) : secret.versions.at(-1);
      if (!version) return notFound();

      // GET /secrets/{name}/ and GET /secrets/{name}/{version}: Get Secret.
      if (req.method === 'GET') {
        if (!version.enabled)
          return fail(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
        return send(200, bundle(secret, version, true));
      }
      // PATCH /secrets/{name}/{version}: Update Secret (attributes, tags, contentType; never the value).
      if (req.method === 'PATCH' && parts[2]) {
        const attributes = body.attributes as { enabled?: boolean } | undefined;
        if (attributes?.enabled !== undefined) version.enabled = attributes.enabled;
        if (body.tags !== undefined) version.tags = body.tags as Record<string, string>;
        if (typeof body.contentType === 'string') version.contentType = body.contentType;
        version.updated = now;
        return send(200, bundle(secret, version, false));
      }
      return fail(405, 'MethodNotAllowed', `${req.method} is not supported here.`);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    token,
    get unauthorized() {
      return state.unauthorized;
    },
    requests: state.requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
