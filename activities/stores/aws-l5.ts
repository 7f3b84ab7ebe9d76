// The L5 spec's `provider: aws_secrets_manager` and `provider: aws_parameter_store`, shared by both AWS store plugins.
import { z } from 'zod';
import type { L5Mapping, L5ReadOptions, L5Spelling } from '../plugin';

const isMapping = (v: unknown): v is L5Mapping => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * `auth:` of an AWS secret: `instance_profile` is the SDK's credential chain (environment, profile, instance or task
 * role); `static` gives keys (they become the provider's access_key_id/secret_access_key); `assume_role` names a
 * role to assume (`role_arn`, validated; the store refuses it at start until assuming a role is implemented).
 */
const AWS_AUTH_FIELDS = { instance_profile: [], static: ['access_key_id', 'secret_access_key'], assume_role: ['role_arn'] };
const AwsAuthSchema = z
  .object({
    type: z.enum(['instance_profile', 'static', 'assume_role']).default('instance_profile'),
    role_arn: z.string().min(1).optional(),
    access_key_id: z.string().min(1).optional(),
    secret_access_key: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    for (const field of AWS_AUTH_FIELDS[a.type])
      if (a[field as 'role_arn'] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `auth.type ${a.type} needs ${field}` });
    // assume_role may start from static keys; instance_profile takes nothing; static no role.
    const allowed: string[] =
      a.type === 'assume_role' ? ['role_arn', 'access_key_id', 'secret_access_key'] : AWS_AUTH_FIELDS[a.type];
    for (const field of ['role_arn', 'access_key_id', 'secret_access_key'] as const)
      if (a[field] !== undefined && !allowed.includes(field))
        ctx.addIssue({ code: 'custom', path: [field], message: `is not used by auth.type ${a.type}` });
  });

/** How one AWS store's secrets are written in the spec (each plugin gives its own). */
export interface AwsSpelling {
  /** The spec's `provider:` value. */
  provider: string;
  /** The spec's word for where the secret is (`secret_id`, `name`): it becomes `path`. */
  location: string;
  /** The spec's fields that are read options, in order, and each one's name under `read:`. */
  moves: Readonly<Record<string, string>>;
  read: L5ReadOptions;
}

/**
 * `provider: aws_secrets_manager` (`secret_id` → path; `version_stage`/`version_id` → read:) and
 * `provider: aws_parameter_store` (`name` → path; `type`, `with_decryption` → read:; `kms_key_id` → the provider's),
 * each spelt by its plugin. `region` (default ${AWS_REGION}, the SDK's own variable) and `auth:` become the provider.
 */
export function awsL5({ provider: kind, location, moves, read: readOptions }: AwsSpelling): L5Spelling {
  return {
    provider: kind,
    read: readOptions,
    translate(s, ctx) {
      const { at, written } = ctx;
      const { [location]: id, region, auth, kms_key_id, ...rest } = s;
      let out: L5Mapping = rest;
      const read: L5Mapping = {};
      const move = (field: string, to = field) => {
        if (!(field in out)) return;
        const { [field]: value, ...others } = out;
        read[to] = value;
        out = others;
        ctx.reportAt(`${at}.read.${to}`, written(field));
      };
      for (const [field, to] of Object.entries(moves)) {
        // A read option spelt `type` shares the secret's `type:` (static, dynamic), so it is told apart by its values.
        if (field === 'type' && (out.type === 'static' || out.type === 'dynamic')) continue;
        move(field, to);
      }
      if (Object.keys(read).length > 0) out = { ...out, read };
      out = ctx.location(out, location, id);
      let creds: L5Mapping = {};
      if (auth !== undefined && ctx.check(AwsAuthSchema, auth, written('auth')) && isMapping(auth)) {
        const { type: _, ...keys } = auth;
        creds = keys;
      }
      if (region === undefined && auth === undefined && kms_key_id === undefined && ctx.declared(kind) !== undefined) {
        ctx.sameType();
        return { ...out, provider: kind };
      }
      const provider = ctx.provider(
        { region: region ?? '${AWS_REGION}', ...creds, kms_key_id },
        {
          region: region === undefined ? `${at}.region` : written('region'),
          access_key_id: `${written('auth')}.access_key_id`,
          secret_access_key: `${written('auth')}.secret_access_key`,
          role_arn: `${written('auth')}.role_arn`,
          kms_key_id: written('kms_key_id'),
        },
      );
      return { ...out, provider };
    },
  };
}
