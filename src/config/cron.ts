// A schedule's cron expression checked field by field, once: `rotator validate` and every command that loads the config
// refuse what Temporal would refuse, naming the field and its range, and `rotator plan` reports the same.

/** The five cron fields and what each accepts (Temporal's names for months and days included). */
const CRON_FIELDS: Array<{ name: string; min: number; max: number; names?: string[] }> = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** Why a cron expression would be refused, or null; `unknown` for syntax beyond plain numbers, ranges, steps and lists. */
export function cronProblem(cron: string): string | null | 'unknown' {
  if (cron.startsWith('@')) return null; // the schema admits only the @-names Temporal knows
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) return `expected five fields, got ${fields.length}`;
  for (const [i, text] of fields.entries()) {
    const spec = CRON_FIELDS[i];
    const value = (v: string): number | null => {
      const named = spec.names?.indexOf(v.toUpperCase()) ?? -1;
      if (named >= 0) return named + (spec.name === 'month' ? 1 : 0);
      return /^\d+$/.test(v) ? Number(v) : null;
    };
    for (const item of text.split(',')) {
      const m = /^(\*|[^-/]+)(?:-([^/]+))?(?:\/(\d+))?$/.exec(item);
      if (!m) return 'unknown';
      const [, from, to, step] = m;
      if (step !== undefined && Number(step) === 0) return `${spec.name}: a step of 0 never advances`;
      for (const v of from === '*' ? [] : [from, ...(to === undefined ? [] : [to])]) {
        const n = value(v);
        if (n === null) return /[A-Za-z?#]/.test(v) ? 'unknown' : `${spec.name}: ${JSON.stringify(v)} is not a number`;
        if (n < spec.min || n > spec.max) return `${spec.name}: ${n} is outside ${spec.min}-${spec.max}`;
      }
      if (to !== undefined && (value(from) ?? 0) > (value(to) ?? 0)) return `${spec.name}: the range ${from}-${to} is empty`;
    }
  }
  return null;
}
