// Whether a published value holds a working generated key: what a consumer reading the store would get to work.
import { createPrivateKey, createPublicKey, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { RotatorError } from '../../../src/kernel/errors';
import type { SecretValue } from '../../types';
import { decodeRandom, parsePrivateJwk } from './generate';
import type { Credential } from './layout';
import type { settings } from './schema';

type Settings = ReturnType<typeof settings>;

const failed = (field: string, why: string) =>
  new RotatorError('VERIFY_FAILED', `the published value's ${field} ${why}`, `stored value.${field}`);

/** A signature algorithm for a PEM private key: node picks the curve's own for EC and none for Ed25519. */
function digestFor(keyType: string | undefined): string | null {
  return keyType === 'ed25519' || keyType === 'ed448' ? null : 'sha256';
}

/**
 * Proves `stored` (the value consumers read) holds `credential` in working order: the random key itself, a key pair
 * whose public key checks a signature made with the private one, a JWKS that accepts a token signed with the new
 * signing key. Says what it checked (never a value); VERIFY_FAILED naming the field otherwise.
 */
export async function checkPublished(s: Settings, credential: Credential, stored: SecretValue): Promise<string> {
  switch (s.generate) {
    case 'random': {
      const key = typeof stored.key === 'string' ? stored.key : '';
      const a = Buffer.from(key);
      const b = Buffer.from(credential.secret);
      if (a.length !== b.length || !timingSafeEqual(a, b)) throw failed('key', 'is not the key this rotation generated');
      const bytes = decodeRandom(key, s.encoding);
      if (!bytes || bytes.length !== s.bytes) throw failed('key', `is not ${s.bytes} bytes in ${s.encoding}`);
      return `key ${credential.id} (${s.bytes} bytes, ${s.encoding})`;
    }
    case 'key-pair': {
      if (stored.private_key !== credential.secret) throw failed('private_key', 'is not the key this rotation generated');
      if (typeof stored.public_key !== 'string') throw failed('public_key', 'is missing');
      const challenge = randomBytes(32);
      try {
        const privateKey = createPrivateKey(credential.secret);
        const digest = digestFor(privateKey.asymmetricKeyType);
        const signature = sign(digest, challenge, privateKey);
        if (!verify(digest, challenge, createPublicKey(stored.public_key), signature)) throw new Error('signature refused');
      } catch {
        throw failed('public_key', 'does not check a signature made with private_key');
      }
      return `key pair ${credential.id}`;
    }
    case 'jwk': {
      const jwk = parsePrivateJwk(credential.secret);
      if (!jwk || stored.signing_key !== credential.secret) throw failed('signing_key', 'is not the key this rotation generated');
      let set: JSONWebKeySet;
      try {
        set = JSON.parse(String(stored.jwks)) as JSONWebKeySet;
      } catch {
        throw failed('jwks', 'is not a JSON Web Key Set');
      }
      const token = await new SignJWT({ purpose: 'rotator verify' })
        .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid })
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(await importJWK(jwk, jwk.alg));
      try {
        await jwtVerify(token, createLocalJWKSet(set));
      } catch {
        throw failed('jwks', `does not accept a token signed with kid ${jwk.kid}`);
      }
      return `jwks accepts kid ${jwk.kid} (${jwk.alg})`;
    }
  }
}
