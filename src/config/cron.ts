// A schedule's cron expression checked once, by croner, field by field: `rotator validate` and every command that loads
// the config refuse what Temporal would refuse, naming the field and its range, and `rotator plan` reports the same.
import { CronPattern } from 'croner';

/** The five cron fields Temporal's schedules take, in order, and what each accepts. */
const CRON_FIELDS: Array<{ name: string; min: number; max: number }> = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

/** Temporal's (and croner's) names for months and days. */
const NAMES = /\b(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT)\b/gi;

/** Why a cron expression would be refused, or null; `unknown` for syntax beyond plain numbers, ranges, steps and lists. */
export function cronProblem(cron: string): string | null | 'unknown' {
  if (cron.startsWith('@')) return null; // the schema admits only the @-names Temporal knows
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) return `expected five fields, got ${fields.length}`;
  for (const [i, text] of fields.entries()) {
    // L, W, # and ? croner reads too, but what they mean is Temporal's to say: left to it.
    if (/[^\d*,/-]/.test(text.replace(NAMES, ''))) return 'unknown';
    const spec = CRON_FIELDS[i];
    // One field at a time (the others `*`), so that a refusal names its field.
    const alone = fields.map((f, j) => (j === i ? f : '*')).join(' ');
    try {
      new CronPattern(alone, undefined, { mode: '5-part' });
    } catch (err) {
      return `${spec.name}: ${why(text, spec, err instanceof Error ? err.message : String(err))}`;
    }
  }
  return null;
}

/** croner's reason in the field's own terms (croner counts days and months from 0 in its messages). */
function why(text: string, spec: (typeof CRON_FIELDS)[number], message: string): string {
  if (/Invalid value/i.test(message)) {
    const values = text.replace(/\/\d+/g, '').match(/\d+/g) ?? [];
    const outside = values.find((v) => Number(v) < spec.min || Number(v) > spec.max);
    return `${outside ?? 'a value'} is outside ${spec.min}-${spec.max}`;
  }
  if (/illegal stepping: 0\b/i.test(message)) return 'a step of 0 never advances';
  const range = /larger than to value: '([^']*)'/i.exec(message);
  if (range) return `the range ${range[1]} is empty`;
  return message.replace(/^CronPattern: /, '');
}
