// `rotator audit [SECRET] [--since DURATION|ISO] [--limit N]`: the audit trail of past rotations, read back from
// Temporal: who started each, its outcome and approval, each phase with its duration, versions and logins.
import { Command, InvalidArgumentError } from 'commander';
import type { AuditEntry } from '../../client/audit';
import { DURATION, parseDuration } from '../../kernel/duration';
import { PHASE_MARK } from '../../client/phase-result';
import { secretName, type CliContext } from '../context';

function positiveInteger(v: string): number {
  const n = Number(v);
  if (!/^\d{1,6}$/.test(v) || n < 1) throw new InvalidArgumentError('expected a positive integer (at most 999999)');
  return n;
}

/** `7d` (that long ago) or an ISO 8601 time. */
function since(v: string): Date {
  const refused = 'expected a duration like 7d or 12h, or an ISO time like 2026-12-01T00:00:00Z';
  const at = DURATION.test(v) ? new Date(Date.now() - parseDuration(v)) : isoTime(v);
  // Out of range (99999999999d ago) or a day that is not in its month (2026-02-30, which Date moves to March).
  if (!at || Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1970) throw new InvalidArgumentError(refused);
  return at;
}

function isoTime(v: string): Date | null {
  const m = /^(\d{4})-(\d\d)-(\d\d)(T[\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.exec(v);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  if (calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return null;
  return new Date(v);
}

export function formatAuditEntry(e: AuditEntry): string {
  const lines = [
    `${e.secret}  ${e.startedAt}  ${e.outcome ?? e.execution.toLowerCase()}  by ${e.trigger ?? '(unknown)'}`,
    `  run        ${e.runId}${e.endedAt ? `, ended ${e.endedAt}` : ''}`,
  ];
  if (e.approval)
    lines.push(
      `  approval   ${e.approval.decision}${e.approval.by ? ` by ${e.approval.by}` : ''}${e.approval.at ? ` at ${e.approval.at}` : ''}${e.approval.reason ? `: ${e.approval.reason}` : ''}`,
    );
  if (e.cancel)
    lines.push(
      `  cancelled  by ${e.cancel.by ?? '(unknown)'}${e.cancel.at ? ` at ${e.cancel.at}` : ''}${e.cancel.reason ? `: ${e.cancel.reason}` : ''}`,
    );
  for (const i of e.interventions) lines.push(`  ${i.kind.padEnd(10)} by ${i.by ?? '(unknown)'}${i.at ? ` at ${i.at}` : ''}`);
  if (e.strategy) lines.push(`  strategy   ${e.strategy}`);
  lines.push(`  login      ${e.logins.from ?? '(none)'} → ${e.logins.to ?? '?'}`);
  lines.push(`  version    ${e.versions.from ?? '(none)'} → ${e.versions.to ?? '(not published)'}`);
  if (e.revoked) lines.push(`  revoked    ${e.revoked}`);
  for (const p of e.phases)
    lines.push(`  ${PHASE_MARK[p.result]} ${p.name.padEnd(10)} ${p.durationMs === null ? 'running' : `${p.durationMs} ms`}`);
  for (const n of e.notes) lines.push(`  note: ${n}`);
  if (e.error) lines.push(`  error: [${e.error.code}] ${e.error.message}`);
  return lines.join('\n');
}

export function auditCommand(ctx: CliContext): Command {
  return new Command('audit')
    .description('audit trail of past rotations, newest first: trigger, outcome, approval, phases, versions, logins')
    .argument('[secret]', 'secret name (all secrets when left out)', secretName)
    .option('--since <when>', 'only rotations started since: a duration (7d, 12h) or an ISO time', since)
    .option('-n, --limit <n>', 'how many rotations', positiveInteger, 20)
    .action(async (secret: string | undefined, opts: { since?: Date; limit: number }) => {
      const config = await ctx.config();
      const { auditTrail } = await import('../../client/audit');
      await ctx.withClient(config, async (client) => {
        const entries = await auditTrail(client, {
          ...(secret ? { secret } : {}),
          ...(opts.since ? { since: opts.since } : {}),
          limit: opts.limit,
        });
        const none = `no rotations${secret ? ` of ${secret}` : ''}${opts.since ? ` since ${opts.since.toISOString()}` : ''}`;
        ctx.emit(entries.length ? entries.map(formatAuditEntry).join('\n\n') : none, entries);
      });
    });
}
