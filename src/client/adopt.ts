// `rotator adopt SECRET`: take over a credential that already exists on its target without rotating it first, as
// Vault's `skip_import_rotation` does for static roles (vault#30610). The current value is recorded in the secret's
// store with rotator's metadata (version 1 when the store had none), after it has logged in with the target's own
// verify; nothing is changed on the target, and nothing is written when the login check fails.
//
// Where the value comes from:
// - the store itself, when it already holds the secret (written by hand or by another tool, without rotator's
//   metadata): that value is published again through rotator's stage and promote, unchanged;
// - the caller (stdin or an environment variable, never an argument: argv is visible to every user of the machine),
//   when the store holds nothing yet: a JSON object of the stored value's fields, or the password alone (the login
//   is then the one the secret's target rotates). The stored value gets the target's endpoint fields beside it, as a
//   first rotation would write.
// Works for every target through the plugin contract: its `credentialFields` says which fields hold the login, its
// `verify` logs in, its `endpoint` completes a first value. No value is ever put in an error, a log line or output.
import { randomUUID } from 'node:crypto';
import { alternatingPair } from '../../activities/rotation';
import { openTarget, ProviderRegistry, TargetRegistry } from '../../activities/registry';
import type { LoginCredential, SecretValue, VerifiedAt } from '../../activities/types';
import { planRotation } from '../config/plan';
import type { Config } from '../config/schema';
import { RotatorError } from '../kernel/errors';

export type AdoptSource = { kind: 'store' } | { kind: 'input'; from: string; text: string };

export interface Adopted {
  secret: string;
  adoptionId: string;
  provider: string;
  path: string;
  version: string;
  previousVersion: string | null;
  /** Where the value came from: the store (already there) or the caller's input (`stdin`, `env VAR`). */
  source: string;
  username: string;
  verifiedAt: VerifiedAt;
}

const USER = '\u0000rotator-username';
const PASS = '\u0000rotator-password';

/**
 * The fields of a stored value that hold the login and the password, as the target's plugin writes them: found by
 * asking its `credentialFields` with markers (a target without it stores `username` and `password`).
 */
function loginFields(credentialFields: ((c: LoginCredential) => Record<string, unknown>) | undefined): {
  username: string;
  password: string;
} {
  if (!credentialFields) return { username: 'username', password: 'password' };
  const owned = credentialFields({ username: USER, password: PASS });
  const find = (marker: string, fallback: string) => Object.entries(owned).find(([, v]) => v === marker)?.[0] ?? fallback;
  return { username: find(USER, 'username'), password: find(PASS, 'password') };
}

/** The caller's text as a stored value's fields: a JSON object, or the password alone. */
function parseInput(text: string, from: string, fields: { username: string; password: string }, login: string): SecretValue {
  const trimmed = text.replace(/\r?\n$/, '');
  if (trimmed.trim() === '')
    throw new RotatorError('CONFIG_INVALID', 'is empty: expected the current password or a JSON object', from);
  if (trimmed.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      // JSON.parse's message may quote the text: say where, not what.
      throw new RotatorError(
        'CONFIG_INVALID',
        'starts with { but is not valid JSON (expected an object of the value’s fields)',
        from,
      );
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new RotatorError('CONFIG_INVALID', 'expected a JSON object of the value’s fields', from);
    const value = parsed as SecretValue;
    return value[fields.username] === undefined ? { ...value, [fields.username]: login } : value;
  }
  return { [fields.username]: login, [fields.password]: trimmed };
}

export async function adoptSecret(config: Config, secretName: string, source: AdoptSource): Promise<Adopted> {
  const plan = planRotation(config, secretName);
  const at = `secrets.${secretName}`;
  const providers = new ProviderRegistry(config.providers);
  const targets = new TargetRegistry();
  try {
    const store = await providers.store(plan.store.provider);
    const { path } = plan.store;
    const where = `${plan.store.provider}:${path}`;
    const current = await store.readCurrent(path);
    const target = await openTarget(providers, targets, plan.target);
    const fields = loginFields(target.credentialFields?.bind(target) as never);

    let value: SecretValue;
    let from: string;
    if (source.kind === 'store') {
      if (!current)
        throw new RotatorError(
          'NOT_FOUND',
          `${where} holds no value to adopt; give the current credential on stdin (--from-stdin) or in an environment variable (--from-env VAR)`,
          `${at}.path`,
        );
      value = current.value;
      from = 'store';
    } else {
      if (current)
        throw new RotatorError(
          'CONFLICT',
          `${where} already holds version ${current.version}; run adopt without ${source.from.startsWith('env') ? '--from-env' : '--from-stdin'} to adopt that value (nothing was changed)`,
          `${at}.path`,
        );
      value = { ...target.endpoint, ...parseInput(source.text, source.from, fields, plan.login) };
      from = source.from;
    }

    const field = (name: string) => (source.kind === 'store' ? `${where} field ${name}` : `${source.from} field ${name}`);
    const username = value[fields.username];
    const password = value[fields.password];
    if (typeof username !== 'string' || username === '')
      throw new RotatorError('CONFIG_INVALID', 'missing or not text: the login to adopt', field(fields.username));
    if (typeof password !== 'string' || password === '')
      throw new RotatorError('CONFIG_INVALID', 'missing or not text: the current password', field(fields.password));
    const logins = plan.strategy === 'alternating-users' ? alternatingPair(plan.login) : [plan.login];
    if (!logins.includes(username))
      throw new RotatorError(
        'CONFIG_INVALID',
        `the login ${JSON.stringify(username)} is not one this secret rotates (${plan.strategy}: ${logins.join(' or ')}); nothing was changed`,
        field(fields.username),
      );

    // The login check, before anything is written: the target's own verify, nothing changed on it.
    let verifiedAt: VerifiedAt;
    try {
      verifiedAt = await target.verify({ username, password }, plan.verifyQuery, value);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new RotatorError(
        err instanceof RotatorError && err.code !== 'VERIFY_FAILED' ? err.code : 'VERIFY_FAILED',
        `the credential to adopt did not log in (step verify; nothing was written): ${why}`,
        `${at}.target`,
      );
    }

    // Published as a rotation publishes: staged, promoted with rotator's metadata, the claim ended.
    const adoptionId = randomUUID();
    const base = current?.version ?? null;
    await store.stagePending(path, adoptionId, value, base);
    let result;
    try {
      result = await store.promote(path, adoptionId, base);
    } finally {
      await store.discardPending(path, adoptionId);
    }
    return {
      secret: secretName,
      adoptionId,
      provider: plan.store.provider,
      path,
      version: result.version,
      previousVersion: result.previousVersion,
      source: from,
      username,
      verifiedAt,
    };
  } finally {
    await targets.close();
    await providers.close();
  }
}
