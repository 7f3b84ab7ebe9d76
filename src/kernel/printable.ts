// What text from outside (a sender's event, a person's name or reason, a request header) may carry into a log line,
// a history event or an operator's terminal. Pure: workflows import it.

/**
 * Control characters (C0, DEL and C1, whose U+009B starts a terminal escape), format characters (bidi overrides,
 * zero-width) and the line and paragraph separators some readers split lines on.
 */
export const UNPRINTABLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
const EVERY_UNPRINTABLE = new RegExp(UNPRINTABLE.source, 'gu');

/** Text that holds none of UNPRINTABLE (for a schema's regex). */
export const PRINTABLE = /^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u;

/** What a log line or a message may show of a sender's text: each unprintable character as ?, at most `max` long. */
export function printable(value: string, max: number): string {
  const clean = value.replace(EVERY_UNPRINTABLE, '?');
  if (clean.length <= max) return clean;
  return `${[...clean].slice(0, max).join('')}…`; // by code point: a cut never leaves half a surrogate pair
}

/** What a log line may show of a sender's field: printable, at most `max` long (undefined stays undefined). */
export function shown(value: string, max?: number): string;
export function shown(value: string | undefined, max?: number): string | undefined;
export function shown(value: string | undefined, max = 120): string | undefined {
  return value === undefined ? undefined : printable(value, max);
}
