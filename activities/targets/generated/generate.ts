// The values the `generated` target makes, each from the platform's CSPRNG: random bytes, a PEM key pair, a JWK.
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair as generateJoseKeyPair, type JWK } from 'jose';
import type { JwsAlgorithm, KeyPairAlgorithm, RandomEncoding } from './schema';

const generateKeyPairAsync = promisify(generateKeyPair);

/** What a generator made: a name that is not secret (a fingerprint or key id) and the secret itself, as text. */
export interface Generated {
  id: string;
  secret: string;
  /** Public, stored beside the secret: the PEM public key of a pair, the algorithm. */
  fields: Record<string, string>;
}

/**
 * A name for a random key that tells keys apart without telling anything of them: 16 base64url characters of the
 * SHA-256 of its bytes (96 bits; the key has at least 128 of its own, so the name cannot be turned back into it).
 */
export function randomKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 16);
}

/** The bytes a random key's text stands for, or null when the text is not in `encoding`. */
export function decodeRandom(text: string, encoding: RandomEncoding): Buffer | null {
  const ok =
    encoding === 'hex'
      ? /^(?:[0-9a-f]{2})+$/i.test(text)
      : encoding === 'base64'
        ? /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0
        : /^[A-Za-z0-9_-]+$/.test(text);
  return ok ? Buffer.from(text, encoding) : null;
}

export function generateRandom(bytes: number, encoding: RandomEncoding): Generated {
  const key = randomBytes(bytes);
  return { id: randomKeyId(key), secret: key.toString(encoding), fields: {} };
}

/** node:crypto's arguments for each key-pair algorithm. */
function keyPairParams(algorithm: KeyPairAlgorithm): { type: 'rsa' | 'ec' | 'ed25519'; options: Record<string, unknown> } {
  switch (algorithm) {
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return { type: 'rsa', options: { modulusLength: Number(algorithm.slice(4)) } };
    case 'ec-p256':
      return { type: 'ec', options: { namedCurve: 'P-256' } };
    case 'ec-p384':
      return { type: 'ec', options: { namedCurve: 'P-384' } };
    case 'ec-p521':
      return { type: 'ec', options: { namedCurve: 'P-521' } };
    case 'ed25519':
      return { type: 'ed25519', options: {} };
  }
}

/** RFC 7638's thumbprint of a public key: the same name for the key in PEM and in a JWKS. */
export async function publicKeyId(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK);
}

/** A key pair as PEM: the private key in PKCS#8 (the secret), the public key in SPKI (stored beside it). */
export async function generatePemPair(algorithm: KeyPairAlgorithm): Promise<Generated> {
  const { type, options } = keyPairParams(algorithm);
  // The overloads of generateKeyPair are per literal type; the options are built for the type above.
  const generate = generateKeyPairAsync as unknown as (
    type: string,
    options: Record<string, unknown>,
  ) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>;
  const { publicKey, privateKey } = await generate(type, options);
  return {
    id: await publicKeyId(publicKey),
    secret: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    fields: { public_key: publicKey.export({ format: 'pem', type: 'spki' }).toString(), algorithm },
  };
}

/** The public half of a PEM private key, or null when the text is not one. */
export function publicPemOf(privatePem: string): string | null {
  try {
    return createPublicKey(createPrivateKey(privatePem)).export({ format: 'pem', type: 'spki' }).toString();
  } catch {
    return null;
  }
}

/** The members of a JWK that are private (RFC 7518 §6): the rest is its public key. */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

/** A private JWK's public key, with its kid, alg and use: what a JWKS publishes. */
export function publicJwk(jwk: JWK): JWK {
  return Object.fromEntries(Object.entries(jwk).filter(([k]) => !PRIVATE_MEMBERS.has(k))) as JWK;
}

/**
 * A JWT signing key: a private JWK with `kid` (its RFC 7638 thumbprint), `alg` and `use: sig`, as JSON text. RSA keys
 * get `bits` (2048 unless given).
 */
export async function generateJwk(alg: JwsAlgorithm, bits?: number): Promise<Generated> {
  const isRsa = alg.startsWith('RS') || alg.startsWith('PS');
  const { privateKey } = await generateJoseKeyPair(alg, {
    extractable: true,
    ...(isRsa ? { modulusLength: bits ?? 2048 } : {}),
  });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const full: JWK = { ...jwk, kid, alg, use: 'sig' };
  return { id: kid, secret: JSON.stringify(full), fields: { alg } };
}

/** A stored private JWK, parsed; null when the text is not a private JWK with a kid. */
export function parsePrivateJwk(text: unknown): (JWK & { kid: string }) | null {
  if (typeof text !== 'string') return null;
  try {
    const jwk = JSON.parse(text) as JWK;
    if (!jwk || typeof jwk !== 'object' || typeof jwk.kty !== 'string' || typeof jwk.kid !== 'string' || !jwk.d) return null;
    return jwk as JWK & { kid: string };
  } catch {
    return null;
  }
}
