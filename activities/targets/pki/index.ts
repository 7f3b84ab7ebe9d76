// The `pki` target plugin: TLS certificates issued from an OpenBao (Vault) PKI role, renewed at 2/3 of their life.
//
//   target:
//     type: pki
//     connection: secret://pki_admin      # { address, token[, namespace] }: who may issue and revoke on the mount
//     mount: pki                          # default pki
//     role: web                           # the PKI role (its key_type and key_bits make the key)
//     common_name: api.example.test
//     alt_names: [localhost]              # DNS SANs
//     ip_sans: [127.0.0.1]
//     ttl: 72h                            # else the role's
//     algorithm: ec                       # optional: refuse a role that issues another kind of key
//     renew_at: 0.6667                    # the sweep makes it due at this fraction of its life (default 2/3)
//     verify: { host: 127.0.0.1, port: 8443, servername: api.example.test, within: 10s }
import { z } from 'zod';
import { parseDuration, secretRef, writtenDuration } from '../../../src/config/fields';
import { DURATION } from '../../../src/kernel/duration';
import { RotatorError } from '../../../src/kernel/errors';
import type { IssuingTargetPlugin } from '../../plugin';
import type { SecretValue, TargetCapabilities } from '../../types';

const pathSegment = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/, {
  message: 'expected a mount path of letters, digits and _ . / -',
});
const roleName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, {
  message: 'expected a role name of letters, digits and _ . -',
});

export const schema = z
  .object({
    type: z.literal('pki'),
    connection: secretRef,
    mount: pathSegment.optional(),
    role: roleName,
    common_name: z.string().min(1, { message: 'expected the certificate common name' }),
    alt_names: z.array(z.string().min(1)).optional(),
    ip_sans: z.array(z.string().min(1)).optional(),
    // Kept as written: the block travels in the plan and is checked there again by the same schema.
    ttl: writtenDuration('1m').optional(),
    algorithm: z.enum(['rsa', 'ec', 'ed25519']).optional(),
    renew_at: z
      .number()
      .gt(0, { message: 'expected a fraction of the lifetime between 0 and 1, like 0.6667' })
      .lt(1, { message: 'expected a fraction of the lifetime between 0 and 1, like 0.6667' })
      .optional(),
    verify: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535),
        servername: z.string().min(1).optional(),
        /** How long verify polls for the new serial while the server reloads; bounded by the verify step's 30 s. */
        within: writtenDuration('100ms')
          .refine((d) => !DURATION.test(d) || parseDuration(d) <= 20_000, { message: 'expected at most 20s' })
          .optional(),
      })
      .strict(),
  })
  .strict();

export type PkiConfig = z.infer<typeof schema>;

/** Where the connection secret says OpenBao is, and the token that may issue and revoke there. */
export function pkiConnectionFrom(admin: SecretValue): { address: string; token: string; namespace?: string } {
  const { address, token, namespace } = admin;
  if (typeof address !== 'string' || !/^https?:\/\//.test(address))
    throw new RotatorError('CONFIG_INVALID', 'the connection secret has no address (the OpenBao URL)', 'target.connection');
  if (typeof token !== 'string' || !token)
    throw new RotatorError('CONFIG_INVALID', 'the connection secret has no token', 'target.connection');
  return { address, token, ...(typeof namespace === 'string' && namespace ? { namespace } : {}) };
}

/** Neither flag applies: a certificate is not a login with passwords or sessions. */
export const CAPABILITIES: TargetCapabilities = { dualPassword: false, sessionsPerLogin: false };

export const pki = {
  schema,
  issues: true,
  capabilities: CAPABILITIES,
  strategies: ['issued'],
  defaultVerify: 'tls-handshake',
  /** What status and history call the credential's owner: the certificate's common name. */
  login: (config) => config.common_name,
  /** The notAfter of the certificate a stored value holds, and when the sweep makes it due (renew_at of its life). */
  async renewal(config, value) {
    const { DEFAULT_RENEW_AT, renewalOf } = await import('./target');
    return renewalOf(value, config.renew_at ?? DEFAULT_RENEW_AT);
  },
  async create(target, admin) {
    const { PkiClient } = await import('./client');
    const { PkiTarget } = await import('./target');
    const mount = target.mount ?? 'pki';
    return new PkiTarget(new PkiClient(pkiConnectionFrom(admin), mount), {
      mount,
      role: target.role,
      commonName: target.common_name,
      altNames: target.alt_names ?? [],
      ipSans: target.ip_sans ?? [],
      ...(target.ttl ? { ttl: target.ttl } : {}),
      ...(target.algorithm ? { keyType: target.algorithm } : {}),
      verify: {
        host: target.verify.host,
        port: target.verify.port,
        ...(target.verify.servername ? { servername: target.verify.servername } : {}),
        withinMs: parseDuration(target.verify.within ?? '10s'),
      },
    });
  },
} satisfies IssuingTargetPlugin<PkiConfig>;
