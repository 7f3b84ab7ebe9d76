// `secret://` URIs as the L5 spec writes them: secret://<name>[/<key>][?version=<v>][&default=<d>], parsed once.
// Pure (no Node-only code). The grammar is that of src/config/l5.ts's load-time check, and of SECRET_REF (which the
// target `connection:` field keeps: no key, no query there) for the forms without a query.
import { RotatorError } from './errors';

export interface SecretUri {
  /** The secret's name under `secrets:`. */
  secret: string;
  /** One field of its value; absent: the whole value. */
  key?: string;
  /** A version id, number or label of the store; absent: the current version. */
  version?: string;
  /** Percent-decoded; used when the value is missing. It may be a credential: no message ever quotes it. */
  default?: string;
}

const SCHEME = 'secret://';
/** What a secret may be called (config names: they end up in workflow ids and store paths). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** A field of a secret's value. */
const KEY = /^[A-Za-z0-9_.-]+$/;
const VERSION = /^[A-Za-z0-9_.-]+$/;
/** A query parameter's name is quoted in an error only when it looks like one (it is never a value). */
const PARAM_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

const FORMS = 'expected secret://<name> or secret://<name>/<key>, optionally ?version=<v> and/or &default=<value>';

/**
 * Parses a `secret://` URI; anything malformed is CONFIG_INVALID at `field`, saying what is wrong without quoting
 * the URI (a default may be a credential). Query values are percent-decoded, `+` read as a space (as l5.ts does).
 */
export function parseSecretUri(text: string, field = 'uri'): SecretUri {
  const fail = (message: string): never => {
    throw new RotatorError('CONFIG_INVALID', message, field);
  };
  if (!text.startsWith(SCHEME)) fail(FORMS);
  const q = text.indexOf('?');
  const head = text.slice(SCHEME.length, q < 0 ? undefined : q);
  const slash = head.indexOf('/');
  const secret = slash < 0 ? head : head.slice(0, slash);
  if (secret === '') fail(`names no secret; ${FORMS}`);
  if (!NAME.test(secret)) fail('expected a secret name of letters, digits, _ . - (at most 63, starting with a letter or digit)');
  const out: SecretUri = { secret };
  if (slash >= 0) {
    const key = head.slice(slash + 1);
    if (key === '') fail('names an empty key (a trailing /); write secret://<name> for the whole secret');
    if (key.includes('/')) fail('names a key with a /; a key is one field of the value (letters, digits, _ . -)');
    if (!KEY.test(key)) fail('expected a key of letters, digits, _ . -');
    out.key = key;
  }
  if (q < 0) return out;
  for (const param of text.slice(q + 1).split('&')) {
    const eq = param.indexOf('=');
    const name = eq < 0 ? param : param.slice(0, eq);
    if (name === '') fail('has an empty query parameter (a stray ?, & or =); expected version= or default=');
    if (name !== 'version' && name !== 'default')
      fail(
        `${PARAM_NAME.test(name) ? `has an unknown query parameter ${JSON.stringify(name)}` : 'has an unknown query parameter'}; expected version= or default=`,
      );
    const which = name as 'version' | 'default';
    if (out[which] !== undefined) fail(`gives ${which}= twice`);
    let value = '';
    try {
      value = decodeURIComponent(eq < 0 ? '' : param.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      fail(`has a ${which}= that is not percent-encoded correctly (a % must be followed by two hex digits)`);
    }
    if (which === 'version' && !VERSION.test(value))
      fail(
        value === ''
          ? 'has an empty version='
          : 'has a version= that is not a version number, id or label (letters, digits, _ . -)',
      );
    out[which] = value;
  }
  return out;
}

/** The URI naming the same thing, without its default (for logs and messages: a default may be a credential). */
export function describeSecretUri(uri: SecretUri): string {
  return `${SCHEME}${uri.secret}${uri.key !== undefined ? `/${uri.key}` : ''}${uri.version !== undefined ? `?version=${uri.version}` : ''}`;
}
