// Passwords from the OS CSPRNG under the configured policy; crypto.randomInt is unbiased (rejection sampling).
import { randomInt } from 'node:crypto';
import type { PasswordPolicy } from '../config/schema';
import { RotatorError } from './errors';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** No quote, backslash, space, `@`, `/`, `:`: symbols that would break a connection string or shell if mishandled. */
const SYMBOLS = '!#$%&()*+,-.;<=>?[]^_{|}~';

/** Fewer characters than this make guessable passwords; `rotator validate` refuses such a policy. */
export const MIN_ALPHABET = 10;

/** The character classes a policy draws from, each without the excluded characters; empty classes dropped. */
export function passwordClasses(policy: PasswordPolicy): string[] {
  const keep = (s: string) => [...s].filter((c) => !policy.exclude.includes(c)).join('');
  return [LOWER, UPPER, DIGITS, ...(policy.symbols ? [SYMBOLS] : [])].map(keep).filter((c) => c.length > 0);
}

export function generatePassword(policy: PasswordPolicy): string {
  const classes = passwordClasses(policy);
  const alphabet = classes.join('');
  if (alphabet.length < MIN_ALPHABET)
    throw new RotatorError(
      'CONFIG_INVALID',
      `excludes too many characters: fewer than ${MIN_ALPHABET} remain`,
      'rotation.password.exclude',
    );
  // Redraw until every class is present; at length ≥ 16 this almost always succeeds the first time.
  for (;;) {
    const chars = Array.from({ length: policy.length }, () => alphabet[randomInt(alphabet.length)]);
    if (classes.every((cls) => chars.some((c) => cls.includes(c)))) return chars.join('');
  }
}
