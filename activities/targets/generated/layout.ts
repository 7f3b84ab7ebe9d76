// How a generated credential sits in the stored value, with the previous one kept beside it until its grace period ends.
//
//   random     key, key_id                                  previous_key, previous_key_id
//   key-pair   private_key, public_key, key_id, algorithm   previous_private_key, previous_public_key, previous_key_id
//   jwk        signing_key, kid, alg, jwks                  previous_kid, and the previous public key in jwks
//
// Every field is text (a JWK and a JWKS as JSON), so the layout reads the same in stores that keep only strings.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';
import type { JsonValue, SecretValue } from '../../types';
import { parsePrivateJwk, publicJwk, randomKeyId } from './generate';
import type { GeneratedConfig } from './schema';

/** A generated credential as the issuing seam passes it: its public name, its secret, its public fields. */
export interface Credential {
  id: string;
  secret: string;
  fields?: Record<string, JsonValue>;
}

export type Fields = Record<string, JsonValue | undefined>;

export interface Layout {
  /** The fields the new credential owns in the stored value, the previous one kept beside it (null: drop its fields). */
  fields(credential: Credential, previous: Credential | null): Fields;
  /** The credential a stored value holds, or null. */
  credentialOf(value: SecretValue): Credential | null;
  /** The fields to replace once the previous credential is gone; null when the value holds none of it. */
  afterWithdraw(value: SecretValue): Fields | null;
  /** The stored fields that hold secrets (for a caller that shows a stored value). */
  readonly secretFields: ReadonlyArray<string>;
}

/** A public JWK's RFC 7638 thumbprint, computed synchronously (jose's is async): its required members in order. */
export function jwkThumbprint(jwk: JWK): string {
  const members: Record<string, string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };
  const names = members[jwk.kty ?? ''];
  if (!names) throw new Error(`no thumbprint for key type ${String(jwk.kty)}`);
  const text = JSON.stringify(Object.fromEntries(names.map((n) => [n, (jwk as Record<string, unknown>)[n]])));
  return createHash('sha256').update(text).digest('base64url');
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

const randomLayout: Layout = {
  secretFields: ['key', 'previous_key'],
  fields: (c, p) => ({ key: c.secret, key_id: c.id, previous_key: p?.secret, previous_key_id: p?.id }),
  credentialOf(value) {
    const key = text(value.key);
    if (!key) return null;
    return { id: text(value.key_id) ?? randomKeyId(Buffer.from(key)), secret: key };
  },
  afterWithdraw: (value) =>
    value.previous_key !== undefined || value.previous_key_id !== undefined
      ? { previous_key: undefined, previous_key_id: undefined }
      : null,
};

/** The PEM public key and key id of a PEM private key; null when it is not one. */
function pemPublic(privatePem: string): { publicPem: string; id: string } | null {
  try {
    const pub = createPublicKey(createPrivateKey(privatePem));
    return {
      publicPem: pub.export({ format: 'pem', type: 'spki' }).toString(),
      id: jwkThumbprint(pub.export({ format: 'jwk' }) as JWK),
    };
  } catch {
    return null;
  }
}

const keyPairLayout: Layout = {
  secretFields: ['private_key', 'previous_private_key'],
  fields(c, p) {
    const publicOf = (x: Credential) => text(x.fields?.public_key) ?? pemPublic(x.secret)?.publicPem;
    return {
      private_key: c.secret,
      public_key: publicOf(c),
      key_id: c.id,
      algorithm: text(c.fields?.algorithm) ?? undefined,
      previous_private_key: p?.secret,
      previous_public_key: p ? publicOf(p) : undefined,
      previous_key_id: p?.id,
    };
  },
  credentialOf(value) {
    const secret = text(value.private_key);
    if (!secret) return null;
    const derived = pemPublic(secret);
    const publicPem = text(value.public_key) ?? derived?.publicPem;
    const algorithm = text(value.algorithm);
    return {
      id: text(value.key_id) ?? derived?.id ?? randomKeyId(Buffer.from(secret)),
      secret,
      fields: { ...(publicPem ? { public_key: publicPem } : {}), ...(algorithm ? { algorithm } : {}) },
    };
  },
  afterWithdraw: (value) =>
    ['previous_private_key', 'previous_public_key', 'previous_key_id'].some((f) => value[f] !== undefined)
      ? { previous_private_key: undefined, previous_public_key: undefined, previous_key_id: undefined }
      : null,
};

/** A JWKS as the stored text: `{"keys":[…]}`, one public key per kid, in the order given. */
export function jwksText(keys: JWK[]): string {
  const seen = new Set<string>();
  return JSON.stringify({ keys: keys.filter((k) => !seen.has(k.kid!) && seen.add(k.kid!)) });
}

/** The kids of a stored JWKS (none when the text is not one). */
export function jwksKids(value: unknown): string[] {
  try {
    const set = JSON.parse(String(value)) as { keys?: Array<{ kid?: unknown }> };
    return (set.keys ?? []).map((k) => String(k.kid));
  } catch {
    return [];
  }
}

const jwkLayout: Layout = {
  secretFields: ['signing_key'],
  fields(c, p) {
    const current = parsePrivateJwk(c.secret)!;
    const previous = p ? parsePrivateJwk(p.secret) : null;
    return {
      signing_key: c.secret,
      kid: c.id,
      alg: current.alg,
      // Verifiers accept tokens signed by either key while signers switch to the new one.
      jwks: jwksText([publicJwk(current), ...(previous ? [publicJwk(previous)] : [])]),
      previous_kid: previous && previous.kid !== current.kid ? previous.kid : undefined,
    };
  },
  credentialOf(value): Credential | null {
    const jwk = parsePrivateJwk(value.signing_key);
    if (!jwk) return null;
    return { id: jwk.kid, secret: value.signing_key as string, fields: jwk.alg ? { alg: String(jwk.alg) } : {} };
  },
  afterWithdraw(value) {
    const jwk = parsePrivateJwk(value.signing_key);
    if (!jwk) return null;
    const kids = jwksKids(value.jwks);
    if (value.previous_kid === undefined && kids.length === 1 && kids[0] === jwk.kid) return null;
    return { jwks: jwksText([publicJwk(jwk)]), previous_kid: undefined };
  },
};

export function layoutOf(config: Pick<GeneratedConfig, 'generate'>): Layout {
  switch (config.generate) {
    case 'random':
      return randomLayout;
    case 'key-pair':
      return keyPairLayout;
    case 'jwk':
      return jwkLayout;
  }
}
