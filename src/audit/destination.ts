// Where the audit trail goes, as `--audit` / ROTATOR_AUDIT write it: `stdout` or `file:PATH`.
import { RotatorError } from '../kernel/errors';

export type AuditDestination = { kind: 'stdout' } | { kind: 'file'; path: string };

/** Parses the option's text; `field` names the option or variable it came from, for the error. */
export function parseAuditDestination(text: string, field = '--audit'): AuditDestination {
  const value = text.trim();
  if (value === 'stdout') return { kind: 'stdout' };
  if (value.startsWith('file:') && value.length > 'file:'.length) return { kind: 'file', path: value.slice('file:'.length) };
  throw new RotatorError('CONFIG_INVALID', 'expected stdout or file:PATH', field);
}
