// Passwords from the OS CSPRNG under the configured policy; crypto.randomInt is unbiased (rejection sampling).
import { randomInt } from 'node:crypto';
import type { PasswordPolicy } from '../config/schema';
import { RotatorError } from './errors';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** No quote, backslash, space, `@`, `/`, `:`: symbols that would break a connection string or shell if mishandled. */
const SYMBOLS = '!#$%&()*+,-.;<=>?[]^_{|}~';

export function generatePassword(policy: PasswordPolicy): string {
  const keep = (s: string) => [...s].filter((c) => !policy.exclude.includes(c)).join('');
  const classes = [LOWER, UPPER, DIGITS, ...(policy.symbols ? [SYMBOLS] : [])].map(keep).filter((c) => c.length > 0);
  const alphabet = classes.join('');
  if (alphabet.length < 10)
    throw new RotatorError('CONFIG_INVALID', 'excludes too many characters: fewer than 10 remain', 'rotation.password.exclude');
  // Redraw until every class is present; at length ≥ 16 this almost always succeeds the first time.
  for (;;) {
    const chars = Array.from({ length: policy.length }, () => alphabet[randomInt(alphabet.length)]);
    if (classes.every((cls) => chars.some((c) => cls.includes(c)))) return chars.join('');
  }
}
