// Stores that keep a credential as one JSON document (AWS, Azure, GCP): reading it back, and what to scrub.
import { RotatorError } from '../../src/kernel/errors';
import type { SecretValue } from '../types';

/**
 * Parse a stored value. JSON.parse quotes the input in its message, so the reason never leaves this function:
 * only the place that was unreadable does.
 */
export function parseSecretJson(text: string | undefined, where: string): SecretValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? '');
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RotatorError('CONFLICT', `${where} does not hold a JSON object (the value is not shown)`);
  }
  return parsed as SecretValue;
}

/** The strings of a value worth scrubbing from any message that might echo a request. */
export function secretsOf(value: SecretValue | null | undefined): string[] {
  if (!value) return [];
  return [value.password, JSON.stringify(value)].filter((s): s is string => typeof s === 'string');
}
