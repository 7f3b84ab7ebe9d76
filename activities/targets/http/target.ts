// The `http` target: an issuing target whose create, verify and revoke are calls to a hook the user runs
// (docs/http-hook.md). The key the hook makes comes back in create's answer and goes only to the store.
import { z } from 'zod';
import { RotatorError } from '../../../src/kernel/errors';
import { PRINTABLE } from '../../../src/kernel/printable';
import type { IssuedCredential, IssuingTarget, JsonValue, SecretValue, VerifiedAt } from '../../types';
import { HookClient, idempotencyKey, type HookSettings } from './hook';

/** The stored fields an API key owns: its id (not secret) and the key itself. */
export const KEY_ID_FIELD = 'key_id';
export const KEY_FIELD = 'api_key';

/** The admin secret's field holding the key both sides sign with (the `connection` of the target block). */
export const SIGNING_KEY_FIELD = 'signing_key';
export const MIN_SIGNING_KEY_LENGTH = 32;

const keyId = z.string().min(1).max(200).regex(PRINTABLE, { message: 'expected printable text' });
/** Extra fields a hook may give a key: scalars the stored value keeps beside it (never the key's own fields). */
const extraFields = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/)
      .refine((k) => k !== KEY_ID_FIELD && k !== KEY_FIELD, { message: `must not be ${KEY_ID_FIELD} or ${KEY_FIELD}` }),
    z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]),
  )
  .refine((f) => Object.keys(f).length <= 16, { message: 'at most 16 fields' });

/** create's answer: the new key, its id, and optional fields the stored value gets. */
export const CreateAnswer = z.object({ id: keyId, secret: z.string().min(16).max(4096), fields: extraFields.optional() });
/** verify's answer: whether the hook accepts the key, and why not. */
export const VerifyAnswer = z.object({ valid: z.boolean(), reason: z.string().max(1024).optional() });
/** revoke's answer: any JSON object (a 404 means already gone). */
export const RevokeAnswer = z.object({}).passthrough();
/** list's answer (optional endpoint, for `rotator plan`): the account's active keys, and how many it may hold. */
export const ListAnswer = z.object({
  keys: z.array(z.object({ id: keyId, created_at: z.string().max(64).optional() }).passthrough()).max(1000),
  max_active: z.number().int().min(1).optional(),
});
/** ping's answer (optional endpoint, for `rotator plan`): ok. */
export const PingAnswer = z.object({ ok: z.literal(true) }).passthrough();

export class HttpTarget implements IssuingTarget {
  readonly issues = true;
  readonly endpoint: Readonly<Record<string, JsonValue>> = {};
  readonly hook: HookClient;

  constructor(settings: HookSettings, signingKey: string) {
    this.hook = new HookClient(settings, signingKey);
  }

  credentialFields(credential: IssuedCredential): Readonly<Record<string, JsonValue | undefined>> {
    return { ...credential.fields, [KEY_ID_FIELD]: credential.id, [KEY_FIELD]: credential.secret };
  }

  credentialOf(value: SecretValue): IssuedCredential | null {
    const id = value[KEY_ID_FIELD];
    const secret = value[KEY_FIELD];
    return typeof id === 'string' && typeof secret === 'string' ? { id, secret } : null;
  }

  /** One create per rotation: a retried or re-run create sends the same idempotency key and gets the same key back. */
  async issue(request: {
    rotationId: string;
    startedAt: number;
    current: IssuedCredential | null;
    value?: SecretValue | null;
  }): Promise<IssuedCredential> {
    const secrets = request.current ? [request.current.secret] : [];
    const { body } = await this.hook.call(
      'create',
      {
        rotation_id: request.rotationId,
        started_at: new Date(request.startedAt).toISOString(),
        current_id: request.current?.id ?? null,
      },
      idempotencyKey(request.rotationId, 'create'),
      CreateAnswer,
      { secrets, quote: 'refusals' },
    );
    const made = body!;
    if (request.current && made.id === request.current.id)
      throw this.hook.error('UNSUPPORTED', 'create', `answered with the id of the current key (${made.id}), not a new one`);
    if (request.current && made.secret === request.current.secret)
      throw this.hook.error('UNSUPPORTED', 'create', `answered with the current key's value under a new id (${made.id})`);
    return { id: made.id, secret: made.secret, ...(made.fields ? { fields: made.fields } : {}) };
  }

  async verify(credential: IssuedCredential): Promise<VerifiedAt> {
    const { body } = await this.hook.call(
      'verify',
      { id: credential.id, secret: credential.secret },
      idempotencyKey(credential.id, 'verify'),
      VerifyAnswer,
      { secrets: [credential.secret], quote: true },
    );
    if (!body!.valid) {
      const why = body!.reason ? `: ${JSON.stringify(this.hook.quote(body!.reason, [credential.secret]))}` : '';
      throw new RotatorError('VERIFY_FAILED', `http target ${this.hook.origin}: verify refused key ${credential.id}${why}`);
    }
    return { endpoint: new URL(this.hook.origin).host, from: 'target connection' };
  }

  /** Revoke is final; a 404 (the hook no longer knows the key) counts as revoked. */
  async withdraw(credential: IssuedCredential): Promise<void> {
    await this.hook.call('revoke', { id: credential.id }, idempotencyKey(credential.id, 'revoke'), RevokeAnswer, {
      secrets: [credential.secret],
      gone: true,
      quote: true,
    });
  }

  /** `rotator plan`: the account's active keys, when the hook has a list endpoint. */
  async list(): Promise<z.infer<typeof ListAnswer>> {
    return (await this.hook.call('list', {}, idempotencyKey('list', String(Date.now())), ListAnswer, { quote: true })).body!;
  }

  /** `rotator plan`: the hook answers and accepts rotator's signature, when it has a ping endpoint. */
  async ping(): Promise<void> {
    await this.hook.call('ping', {}, idempotencyKey('ping', String(Date.now())), PingAnswer, { quote: true });
  }

  async close(): Promise<void> {}
}

/** The signing key from the admin value the block's `connection` names; CONFIG_INVALID naming the field otherwise. */
export function signingKeyOf(admin: SecretValue, where: string): string {
  const key = admin[SIGNING_KEY_FIELD];
  if (typeof key !== 'string' || key.length < MIN_SIGNING_KEY_LENGTH)
    throw new RotatorError(
      'CONFIG_INVALID',
      `the value at ${where} needs a ${SIGNING_KEY_FIELD} field of at least ${MIN_SIGNING_KEY_LENGTH} characters (the key the hook checks signatures with)`,
      'target.connection',
    );
  return key;
}
