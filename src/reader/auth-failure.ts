// Whether an error from a database driver means "this credential was refused", the one failure that falls back.

/**
 * True for the drivers' authentication refusals: PostgreSQL 28P01 (wrong password) and 28000 (the login may not log
 * in, as after a revoke), MySQL ER_ACCESS_DENIED_ERROR, MongoDB 18 (AuthenticationFailed), Redis WRONGPASS and
 * NOAUTH. Anything else (a refused connection, a timeout, a failed query) is not about the credential: trying
 * another one would only hide an outage.
 */
export function isAuthFailure(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; codeName?: unknown; message?: unknown };
  if (e.code === '28P01' || e.code === '28000') return true;
  if (e.code === 'ER_ACCESS_DENIED_ERROR') return true;
  if (e.code === 18 || e.codeName === 'AuthenticationFailed') return true;
  return typeof e.message === 'string' && /^(WRONGPASS|NOAUTH)\b/.test(e.message);
}
