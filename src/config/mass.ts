// Rotating many secrets at once (`rotator rotate --all | --selector`): secrets' labels, the `mass_rotation:` block
// (write budgets per provider, rotations in flight), selector expressions and the selection they make.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RotatorError } from '../kernel/errors';
import { name } from './fields';

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/;
const LABEL_VALUE = /^[A-Za-z0-9_./-]{0,63}$/;

/** `labels: { team: payments, env: prod }` on a secret: what a selector matches besides the secret's name. */
export const LabelsSchema = z
  .record(
    z.string().regex(LABEL_KEY, { message: 'expected a label key: letters, digits, _ . / - (at most 63)' }),
    z.string({ error: 'expected a label value (a string: quote numbers and booleans)' }).regex(LABEL_VALUE, {
      message: 'expected a label value: letters, digits, _ . / - (at most 63)',
    }),
  )
  .superRefine((labels, ctx) => {
    if (Object.hasOwn(labels, 'name'))
      ctx.addIssue({ code: 'custom', path: ['name'], message: "the label name is kept for the secret's own name in selectors" });
  });

/** Requests per second; fractions allowed (0.5 = one write every 2 s). */
const perSecond = z
  .number({ error: 'expected requests per second (a number)' })
  .positive({ message: 'expected more than 0 requests per second' })
  .max(100_000, { message: 'expected at most 100000 requests per second' });

export const MassRotationSchema = z
  .object({
    /**
     * Write requests per second to each provider's store, shared by every rotation of a mass run (and of concurrent
     * runs). A provider left out gets its plugin's limit (aws-secrets-manager: 50), or none.
     */
    write_budgets: z.record(name, perSecond).default({}),
    /** Rotations a mass run has in flight at once. */
    max_concurrent: z.number().int().min(1).max(1000).default(20),
  })
  .strict();

export type MassRotationConfig = z.infer<typeof MassRotationSchema>;
export const MASS_DEFAULTS: MassRotationConfig = { write_budgets: {}, max_concurrent: 20 };

/** One term of a selector: `key=glob`, `key!=glob`, `key` (has the label), `!key` (has not). `name` is the secret's name. */
interface Term {
  key: string;
  op: '=' | '!=' | 'exists' | 'absent';
  glob?: RegExp;
}

/** `*` any run of characters, `?` one, everything else literal. */
function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

const TERM = /^(!?)([A-Za-z0-9][A-Za-z0-9_./-]*)\s*(?:(!=|=)\s*([A-Za-z0-9_./*?-]*))?$/;

/**
 * Parses `team=payments,env!=dev,name=orders_*`: every term must hold (AND). Values and `name` take globs. Errors
 * name the option and the term.
 */
export function parseSelector(expr: string): Term[] {
  const terms = expr
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (terms.length === 0)
    throw new RotatorError('CONFIG_INVALID', 'expected at least one term, like team=payments or name=orders_*', '--selector');
  return terms.map((text) => {
    const m = TERM.exec(text);
    if (!m || (m[1] && m[3]))
      throw new RotatorError(
        'CONFIG_INVALID',
        `cannot read the term ${JSON.stringify(text)}: expected key=value, key!=value, key or !key (values may use * and ?)`,
        '--selector',
      );
    const [, not, key, op, value] = m;
    if (op) return { key: key!, op: op as '=' | '!=', glob: globToRegExp(value ?? '') };
    return { key: key!, op: not ? 'absent' : 'exists' };
  });
}

export function matches(terms: Term[], secretName: string, labels: Readonly<Record<string, string>>): boolean {
  return terms.every((t) => {
    const value = t.key === 'name' ? secretName : labels[t.key];
    switch (t.op) {
      case 'exists':
        return value !== undefined;
      case 'absent':
        return value === undefined;
      case '=':
        return value !== undefined && t.glob!.test(value);
      case '!=':
        return value === undefined || !t.glob!.test(value);
    }
  });
}

export interface SelectableSecret {
  labels?: Record<string, string> | undefined;
  rotation?: unknown;
  target?: unknown;
  type?: string;
  encryption_key?: unknown;
}

export interface Selection {
  /** `--all`, or the selector as written: it names the run. */
  selector: string;
  /** What the run rotates, sorted. */
  secrets: string[];
  /** Selected but not rotated by a mass run, with why (no target, a lease keeper's, an encryption key). */
  skipped: Array<{ secret: string; reason: string }>;
}

/** The secrets `--all` (selector null) or a selector picks out of the config, and those of them a mass run skips. */
export function selectSecrets(secrets: Readonly<Record<string, SelectableSecret>>, selector: string | null): Selection {
  const terms = selector === null ? [] : parseSelector(selector);
  const out: Selection = { selector: selector ?? '--all', secrets: [], skipped: [] };
  for (const [secret, s] of Object.entries(secrets).sort(([a], [b]) => a.localeCompare(b))) {
    if (!matches(terms, secret, s.labels ?? {})) continue;
    const reason =
      s.type === 'dynamic'
        ? 'a dynamic secret: its lease keeper re-issues it'
        : s.encryption_key
          ? 'an encryption key: rotate it with rotator rotate <secret>'
          : !s.target || !s.rotation
            ? 'no target: and rotation: (nothing rotates it; it is only read)'
            : null;
    if (reason) out.skipped.push({ secret, reason });
    else out.secrets.push(secret);
  }
  return out;
}

/**
 * The run's workflow id, derived from the selection (`mass/<12 hex>`): the same command names the same run, so
 * running it again attaches to it or resumes it.
 */
export function massRunIdFor(selection: Pick<Selection, 'selector' | 'secrets'>): string {
  const digest = createHash('sha256')
    .update(`${selection.selector}\n${selection.secrets.join('\n')}`)
    .digest('hex');
  return `mass/${digest.slice(0, 12)}`;
}
