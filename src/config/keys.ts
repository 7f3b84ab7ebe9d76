// A secret whose store holds ciphertexts of an encryption key: its `encryption_key:` block (a key plugin's, by `type:`) and its
// `rewrap:` block (more paths, grace period, sample), the checks across them, and the plan a key rotation carries.
import { z } from 'zod';
import type { AnyKeyTargetPlugin } from '../../activities/key-rotation';
import { KEY_TARGETS, keyTargetPlugin } from '../../activities/targets';
import { RotatorError } from '../kernel/errors';
import type { KeyPlan } from '../../workflows/key-definitions';
import { duration } from './fields';

export const KeySchema = z.discriminatedUnion(
  'type',
  Object.values(KEY_TARGETS as Record<string, AnyKeyTargetPlugin>).map((p) => p.schema) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<string> }>,
    ...z.ZodObject<{ type: z.ZodLiteral<string> }>[],
  ],
);

export const RewrapSchema = z
  .object({
    /** More paths of the secret's store that hold ciphertexts of the key (the secret's `path:` is always one). */
    paths: z.array(z.string().min(1)).default([]),
    /** How long readers may keep decrypting an old ciphertext (their caches) before the old versions stop decrypting. */
    grace_period: duration.default(0),
    /** Ciphertexts per path the verify decrypts. */
    sample: z.number().int().min(1).max(1000).default(5),
  })
  .strict();

type KeyBlocks = { encryption_key?: { type: string } & Record<string, unknown>; rewrap?: z.infer<typeof RewrapSchema> };

/** What a secret with an `encryption_key:` block may not have besides, and what its key plugin checks; paths are relative to the secret. */
export function keyIssues(
  secret: KeyBlocks & { target?: unknown; rotation?: unknown; type: string; path: string },
  providers: Readonly<Record<string, { type: string }>>,
): Array<{ path: string[]; message: string }> {
  const issues: Array<{ path: string[]; message: string }> = [];
  if (!secret.encryption_key) {
    if (secret.rewrap) issues.push({ path: ['rewrap'], message: 'only a secret with an encryption_key: block has this block' });
    return issues;
  }
  for (const field of ['target', 'rotation'] as const)
    if (secret[field])
      issues.push({
        path: [field],
        message:
          'a secret with encryption_key: holds ciphertexts; its key is rotated by encryption_key: and rewrap:, not this block',
      });
  if (secret.type !== 'static') issues.push({ path: ['type'], message: 'a secret with encryption_key: is static' });
  const paths = [secret.path, ...(secret.rewrap?.paths ?? [])];
  paths.forEach((p, i) => {
    if (paths.indexOf(p) !== i) issues.push({ path: ['rewrap', 'paths', String(i - 1)], message: `${p} is listed twice` });
  });
  issues.push(...(keyTargetPlugin(secret.encryption_key).check?.(secret.encryption_key, providers) ?? []));
  return issues;
}

/** The plan of a key rotation of `secretName`: references and numbers only. */
export function planKeyRotation(
  config: { secrets: Record<string, KeyBlocks & { provider: string; path: string }> },
  secretName: string,
): KeyPlan {
  const secret = config.secrets[secretName];
  if (!secret?.encryption_key)
    throw new RotatorError(
      'CONFIG_INVALID',
      `${secretName} has no encryption_key: block, so it holds no ciphertexts to rewrap`,
      'encryption_key',
    );
  const rewrap = secret.rewrap ?? RewrapSchema.parse({});
  return {
    secret: secretName,
    key: secret.encryption_key,
    store: secret.provider,
    paths: [secret.path, ...rewrap.paths],
    graceMs: rewrap.grace_period,
    sample: rewrap.sample,
  };
}
