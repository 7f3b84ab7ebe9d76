// The `generated` target without a server: its config checks, its generators, and the JWKS overlap of a signing key.
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, calculateJwkThumbprint, type JSONWebKeySet, type JWK } from 'jose';
import { checkPublished } from './check';
import { decodeRandom, generateJwk, generatePemPair, generateRandom, parsePrivateJwk, publicJwk } from './generate';
import { jwkThumbprint, jwksKids, layoutOf, type Credential } from './layout';
import { KEY_PAIR_ALGORITHMS, schema, settings, type GeneratedConfig } from './schema';

function issues(block: Record<string, unknown>): string[] {
  const r = schema.safeParse({ type: 'generated', ...block });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

async function sign(credential: Credential): Promise<string> {
  const jwk = parsePrivateJwk(credential.secret)!;
  return new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid })
    .setExpirationTime('5m')
    .sign(await importJWK(jwk, jwk.alg));
}

async function accepts(jwks: unknown, token: string): Promise<boolean> {
  const set = createLocalJWKSet(JSON.parse(String(jwks)) as JSONWebKeySet);
  return jwtVerify(token, set).then(
    () => true,
    () => false,
  );
}

describe('the generated target block', () => {
  it('names the field of an unknown algorithm, a key too short, and options of another kind', () => {
    expect(issues({ generate: 'jwk', algorithm: 'HS256' })).toEqual([
      expect.stringMatching(/^algorithm: unknown algorithm "HS256" for a JWT signing key; expected one of RS256, .*ES256/),
    ]);
    expect(issues({ generate: 'key-pair', algorithm: 'rsa-1024' })).toEqual([
      expect.stringMatching(/^algorithm: unknown algorithm "rsa-1024" for a key pair; expected one of rsa-2048/),
    ]);
    expect(issues({ generate: 'key-pair' })).toEqual([expect.stringMatching(/^algorithm: missing: one of rsa-2048/)]);
    expect(issues({ generate: 'random', bytes: 8 })).toEqual([
      'bytes: expected at least 16 bytes (128 bits): a shorter key can be guessed',
    ]);
    expect(issues({ generate: 'random', encoding: 'base32' })).toEqual(['encoding: expected one of hex, base64, base64url']);
    expect(issues({ generate: 'random', algorithm: 'ES256' })).toEqual([
      'algorithm: algorithm applies to generate: key-pair and jwk only; leave it out for random',
    ]);
    expect(issues({ generate: 'jwk', algorithm: 'ES256', bits: 4096 })).toEqual([
      'bits: bits applies to RSA algorithms (RS*, PS*) only; ES256 names its curve',
    ]);
    expect(issues({ generate: 'jwk', algorithm: 'RS256', bits: 1024 })).toEqual(['bits: expected one of 2048, 3072, 4096']);
    expect(issues({ generate: 'uuid' })).toEqual([
      expect.stringMatching(/^generate: expected what to generate: random, key-pair, jwk/),
    ]);
    expect(issues({ generate: 'random', length: 32 })).toEqual([expect.stringMatching(/length/)]);
    expect(issues({ generate: 'random', verify: 'login' })).toEqual(['verify: expected consumers or none']);
    expect(issues({ generate: 'random', bytes: 16, encoding: 'base64url', verify: 'none' })).toEqual([]);
    expect(issues({ generate: 'jwk' })).toEqual([]);
  });
});

describe('random keys', () => {
  it.each([
    ['hex', 32, 64],
    ['base64', 32, 44],
    ['base64url', 48, 64],
  ] as const)('%s: %i fresh bytes each time, written as %i characters', (encoding, bytes, chars) => {
    const a = generateRandom(bytes, encoding);
    const b = generateRandom(bytes, encoding);
    expect(a.secret).toHaveLength(chars);
    expect(decodeRandom(a.secret, encoding)).toHaveLength(bytes);
    expect(a.secret).not.toBe(b.secret);
    expect(a.id).not.toBe(b.id);
    expect(a.secret.includes(a.id)).toBe(false);
  });

  it('keeps the previous key beside the new one until it is withdrawn', async () => {
    const layout = layoutOf({ generate: 'random' });
    const old = generateRandom(32, 'hex');
    const fresh = generateRandom(32, 'hex');
    const value = { ...layout.fields(fresh, old), note: 'kept' };
    expect(value).toMatchObject({ key: fresh.secret, key_id: fresh.id, previous_key: old.secret, previous_key_id: old.id });
    expect(layout.credentialOf(value)).toEqual({ id: fresh.id, secret: fresh.secret });
    await expect(checkPublished({ generate: 'random', bytes: 32, encoding: 'hex' }, fresh, value)).resolves.toMatch(fresh.id);
    await expect(checkPublished({ generate: 'random', bytes: 32, encoding: 'hex' }, old, value)).rejects.toThrow(
      "stored value.key: the published value's key is not the key this rotation generated",
    );
    expect(layout.afterWithdraw(value)).toEqual({ previous_key: undefined, previous_key_id: undefined });
    expect(layout.afterWithdraw({ key: fresh.secret, key_id: fresh.id })).toBeNull();
  });
});

describe('key pairs', () => {
  const fast = KEY_PAIR_ALGORITHMS.filter((a) => a !== 'rsa-3072' && a !== 'rsa-4096');
  it.each(fast)('%s: a PEM pair whose key id is the public key thumbprint, checked by a signature', async (algorithm) => {
    const pair = await generatePemPair(algorithm);
    expect(pair.secret).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(pair.fields.public_key).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const layout = layoutOf({ generate: 'key-pair' });
    const stored = layout.fields(pair, null);
    // The id read back from a value that lost its key_id is the same thumbprint.
    expect(layout.credentialOf({ ...stored, key_id: undefined })!.id).toBe(pair.id);
    await expect(checkPublished({ generate: 'key-pair', algorithm }, pair, stored)).resolves.toBe(`key pair ${pair.id}`);
    const other = await generatePemPair(algorithm);
    await expect(
      checkPublished({ generate: 'key-pair', algorithm }, pair, { ...stored, public_key: other.fields.public_key }),
    ).rejects.toThrow('stored value.public_key: ');
  });

  it('keeps the previous pair beside the new one, and drops it after', async () => {
    const layout = layoutOf({ generate: 'key-pair' });
    const [old, fresh] = await Promise.all([generatePemPair('ec-p256'), generatePemPair('ec-p256')]);
    const value = layout.fields(fresh, layout.credentialOf(layout.fields(old, null)));
    expect(value).toMatchObject({
      private_key: fresh.secret,
      public_key: fresh.fields.public_key,
      previous_private_key: old.secret,
      previous_public_key: old.fields.public_key,
      previous_key_id: old.id,
    });
    expect(layout.afterWithdraw(value)).toEqual({
      previous_private_key: undefined,
      previous_public_key: undefined,
      previous_key_id: undefined,
    });
  });
});

describe('JWT signing keys', () => {
  it.each(['ES256', 'EdDSA', 'RS256', 'PS384'] as const)('%s: a private JWK with its RFC 7638 thumbprint as kid', async (alg) => {
    const key = await generateJwk(alg);
    const jwk = JSON.parse(key.secret) as JWK;
    expect(jwk).toMatchObject({ kid: key.id, alg, use: 'sig' });
    expect(jwk.d).toBeDefined();
    expect(await calculateJwkThumbprint(publicJwk(jwk))).toBe(key.id);
    expect(jwkThumbprint(publicJwk(jwk))).toBe(key.id);
    expect(Object.keys(publicJwk(jwk)).some((k) => ['d', 'p', 'q', 'dp', 'dq', 'qi'].includes(k))).toBe(false);
  });

  it('publishes both public keys during the overlap and only the new one after: tokens verify accordingly', async () => {
    const layout = layoutOf({ generate: 'jwk' });
    const old = await generateJwk('ES256');
    const fresh = await generateJwk('RS256');
    const before = layout.fields(old, null);
    expect(jwksKids(before.jwks)).toEqual([old.id]);

    const overlap = { ...before, ...layout.fields(fresh, layout.credentialOf(before)) };
    expect(overlap).toMatchObject({ kid: fresh.id, previous_kid: old.id, alg: 'RS256', signing_key: fresh.secret });
    expect(jwksKids(overlap.jwks)).toEqual([fresh.id, old.id]);
    expect(String(overlap.jwks).includes('"d"')).toBe(false);
    const [oldToken, newToken] = await Promise.all([sign(old), sign(fresh)]);
    expect(await accepts(overlap.jwks, oldToken)).toBe(true);
    expect(await accepts(overlap.jwks, newToken)).toBe(true);

    const after = { ...overlap, ...layout.afterWithdraw(overlap) };
    expect(jwksKids(after.jwks)).toEqual([fresh.id]);
    expect(after.previous_kid).toBeUndefined();
    expect(await accepts(after.jwks, newToken)).toBe(true);
    expect(await accepts(after.jwks, oldToken)).toBe(false);
    // Run again (a retried step), it changes nothing more.
    expect(layout.afterWithdraw(after)).toBeNull();

    await expect(checkPublished(settings({ type: 'generated', generate: 'jwk' } as GeneratedConfig), fresh, after)).resolves.toBe(
      `jwks accepts kid ${fresh.id} (RS256)`,
    );
    await expect(
      checkPublished({ generate: 'jwk', algorithm: 'RS256' }, fresh, { ...after, jwks: before.jwks as string }),
    ).rejects.toThrow(`stored value.jwks: the published value's jwks does not accept a token signed with kid ${fresh.id}`);
  });
});
