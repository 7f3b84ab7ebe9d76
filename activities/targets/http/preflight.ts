// `rotator plan` for an http target: the signing key is there, the hook answers and accepts rotator's signature
// (its optional ping action), and the account has room for one more key (its optional list action). Nothing changes.
import { RotatorError } from '../../../src/kernel/errors';
import type { PreflightCheck, TargetPlanOf } from '../../plugin';
import type { SecretValue } from '../../types';
import { HookError } from './hook';
import { settingsOf, type HttpTargetConfig } from './index';
import { HttpTarget, SIGNING_KEY_FIELD, signingKeyOf } from './target';

/** Statuses by which a hook says it has no such action: the optional actions are then a ⚠, not a ✗. */
const NO_SUCH_ACTION = new Set([400, 404, 405, 501]);

export async function preflight(target: TargetPlanOf<HttpTargetConfig>, admin: SecretValue): Promise<PreflightCheck[]> {
  const where = `${target.connection.provider}:${target.connection.path}`;
  const origin = new URL(target.url).origin;
  let key: string;
  try {
    key = signingKeyOf(admin, where);
  } catch (err) {
    return [
      {
        check: 'signing key',
        status: 'fail',
        detail: (err as Error).message,
        fix: `write a random ${SIGNING_KEY_FIELD} of 32+ characters to ${where}, and give the hook the same key`,
      },
    ];
  }
  const checks: PreflightCheck[] = [{ check: 'signing key', status: 'ok', detail: `${where}#${SIGNING_KEY_FIELD} is there` }];
  // One attempt each: plan reports what it finds, it does not wait out an outage.
  const hook = new HttpTarget({ ...settingsOf(target), attempts: 1 }, key);
  const account = target.account ? ` (account ${target.account})` : '';

  const optional = (err: unknown): boolean => err instanceof HookError && NO_SUCH_ACTION.has(err.status ?? 0);
  const failed = (check: string, err: unknown): PreflightCheck => {
    const message = err instanceof RotatorError ? err.message : String(err);
    const code = err instanceof RotatorError ? err.code : 'TRANSIENT';
    return {
      check,
      status: 'fail',
      detail: message,
      fix:
        code === 'PERMISSION_DENIED'
          ? `give the hook the signing key in ${where} (both sides sign with it)`
          : code === 'TRANSIENT'
            ? 'start the hook, or correct the url'
            : 'answer as docs/http-hook.md describes',
    };
  };

  const pingCheck = `hook ${origin}: answers and accepts rotator's signature`;
  try {
    await hook.ping();
    checks.push({ check: pingCheck, status: 'ok', detail: 'ping answered ok, signed' });
  } catch (err) {
    if (!optional(err)) return [...checks, failed(pingCheck, err)];
    checks.push({
      check: pingCheck,
      status: 'warn',
      detail: `the hook has no ping action (${(err as Error).message})`,
      fix: 'answer {"ok":true} to action ping (optional), so plan can check the hook',
    });
  }

  const listCheck = `hook ${origin}: room for a new key${account}`;
  try {
    const { keys, max_active } = await hook.list();
    const ids = keys.map((k) => k.id).join(', ') || 'none';
    if (max_active !== undefined && keys.length >= max_active)
      checks.push({
        check: listCheck,
        status: 'fail',
        detail: `${keys.length} active keys (${ids}), the most the service allows: create would be refused`,
        fix: 'revoke the active key that the store does not hold, then plan again',
      });
    else
      checks.push({
        check: listCheck,
        status: 'ok',
        detail: `${keys.length} active key${keys.length === 1 ? '' : 's'} (${ids})${max_active ? `, at most ${max_active}` : ''}`,
      });
  } catch (err) {
    if (!optional(err)) checks.push(failed(listCheck, err));
    else
      checks.push({
        check: listCheck,
        status: 'warn',
        detail: `the hook has no list action (${(err as Error).message})`,
        fix: 'answer {"keys":[{"id":…}],"max_active":…} to action list (optional), so plan can count the keys',
      });
  }
  return checks;
}
