// The `generated` target's block: what to generate (random bytes, a key pair, a JWT signing key) and how it is verified.
import { z } from 'zod';

export const GENERATE = ['random', 'key-pair', 'jwk'] as const;
export const RANDOM_ENCODINGS = ['hex', 'base64', 'base64url'] as const;
export type RandomEncoding = (typeof RANDOM_ENCODINGS)[number];
export const KEY_PAIR_ALGORITHMS = ['rsa-2048', 'rsa-3072', 'rsa-4096', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519'] as const;
export type KeyPairAlgorithm = (typeof KEY_PAIR_ALGORITHMS)[number];
/** JWS algorithms (RFC 7518, RFC 8037) a signing key can be made for. */
export const JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];
export const RSA_BITS = [2048, 3072, 4096] as const;

/** 128 bits: a shorter random key can be guessed; 1024 bytes is far beyond any HMAC or API key. */
export const MIN_RANDOM_BYTES = 16;
export const MAX_RANDOM_BYTES = 1024;
export const DEFAULT_RANDOM_BYTES = 32;
export const DEFAULT_JWS_ALGORITHM: JwsAlgorithm = 'ES256';

const oneOf = (values: ReadonlyArray<string | number>) => values.join(', ');

export const schema = z
  .object({
    type: z.literal('generated'),
    generate: z.enum(GENERATE, { error: `expected what to generate: ${oneOf(GENERATE)}` }),
    /** random: how many random bytes (at least 16). */
    bytes: z.number({ error: 'expected a number of bytes' }).int({ message: 'expected a whole number of bytes' }).optional(),
    /** random: how the bytes are written as text. */
    encoding: z.enum(RANDOM_ENCODINGS, { error: `expected one of ${oneOf(RANDOM_ENCODINGS)}` }).optional(),
    /** key-pair: rsa-3072, ec-p256, …; jwk: a JWS algorithm (ES256 unless given). Checked per kind below. */
    algorithm: z.string({ error: 'expected an algorithm name' }).optional(),
    /** jwk with an RSA algorithm (RS256, PS256, …): the modulus length. */
    bits: z.number({ error: 'expected a modulus length in bits' }).optional(),
    /**
     * What proves consumers took the new key: `consumers`, their acknowledgement (each webhook consumer's 2xx, each
     * rollout's ready pods, which the reconnect phase waits for), or `none`. Either way the published value is checked
     * to hold a working key (a token signed with it verifies against the stored JWKS).
     */
    verify: z.enum(['consumers', 'none'], { error: 'expected consumers or none' }).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const onlyFor = (field: 'bytes' | 'encoding' | 'algorithm' | 'bits', kinds: string) => {
      if (c[field] !== undefined) issue(field, `${field} applies to generate: ${kinds} only; leave it out for ${c.generate}`);
    };
    switch (c.generate) {
      case 'random':
        if (c.bytes !== undefined && c.bytes < MIN_RANDOM_BYTES)
          issue('bytes', `expected at least ${MIN_RANDOM_BYTES} bytes (128 bits): a shorter key can be guessed`);
        if (c.bytes !== undefined && c.bytes > MAX_RANDOM_BYTES) issue('bytes', `expected at most ${MAX_RANDOM_BYTES} bytes`);
        onlyFor('algorithm', 'key-pair and jwk');
        onlyFor('bits', 'jwk');
        break;
      case 'key-pair':
        if (c.algorithm === undefined) issue('algorithm', `missing: one of ${oneOf(KEY_PAIR_ALGORITHMS)}`);
        else if (!(KEY_PAIR_ALGORITHMS as ReadonlyArray<string>).includes(c.algorithm))
          issue(
            'algorithm',
            `unknown algorithm ${JSON.stringify(c.algorithm)} for a key pair; expected one of ${oneOf(KEY_PAIR_ALGORITHMS)}`,
          );
        onlyFor('bytes', 'random');
        onlyFor('encoding', 'random');
        onlyFor('bits', 'jwk (the key-pair algorithm names its size: rsa-3072)');
        break;
      case 'jwk': {
        const alg = c.algorithm ?? DEFAULT_JWS_ALGORITHM;
        if (!(JWS_ALGORITHMS as ReadonlyArray<string>).includes(alg))
          issue(
            'algorithm',
            `unknown algorithm ${JSON.stringify(alg)} for a JWT signing key; expected one of ${oneOf(JWS_ALGORITHMS)}`,
          );
        else if (c.bits !== undefined && !/^(RS|PS)/.test(alg))
          issue('bits', `bits applies to RSA algorithms (RS*, PS*) only; ${alg} names its curve`);
        else if (c.bits !== undefined && !(RSA_BITS as ReadonlyArray<number>).includes(c.bits))
          issue('bits', `expected one of ${oneOf(RSA_BITS)}`);
        onlyFor('bytes', 'random');
        onlyFor('encoding', 'random');
        break;
      }
    }
  });

export type GeneratedConfig = z.infer<typeof schema>;

/** The block with its defaults filled in, for the generators (after the schema accepted it). */
export function settings(
  c: GeneratedConfig,
):
  | { generate: 'random'; bytes: number; encoding: RandomEncoding }
  | { generate: 'key-pair'; algorithm: KeyPairAlgorithm }
  | { generate: 'jwk'; algorithm: JwsAlgorithm; bits?: number } {
  switch (c.generate) {
    case 'random':
      return { generate: 'random', bytes: c.bytes ?? DEFAULT_RANDOM_BYTES, encoding: c.encoding ?? 'hex' };
    case 'key-pair':
      return { generate: 'key-pair', algorithm: c.algorithm as KeyPairAlgorithm };
    case 'jwk':
      return {
        generate: 'jwk',
        algorithm: (c.algorithm ?? DEFAULT_JWS_ALGORITHM) as JwsAlgorithm,
        ...(c.bits ? { bits: c.bits } : {}),
      };
  }
}
