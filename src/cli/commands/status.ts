// `rotator status SECRET`: phase, timings and outcome of the latest rotation of a secret.
import { Command } from 'commander';
import type { Config } from '../../config/schema';
import { assertNever } from '../../kernel/errors';
import { EXIT, ExitError, secretName, type CliContext } from '../context';
import { formatRun, formatStatus } from '../format';
import type { RotationStatus } from '../../../workflows/definitions';

export function statusCommand(ctx: CliContext): Command {
  return new Command('status')
    .description('phase, timings and outcome of the latest rotation of a secret')
    .argument('<secret>', 'secret name', secretName)
    .action(async (secret: string) => {
      const config = await ctx.config();
      if (config.secrets[secret]?.type === 'dynamic') return keeperStatusOf(ctx, config, secret);
      const { currentStatus, latestRun, QUERY_PATIENCE_MS } = await import('../../client/rotations');
      const { requireRotatable, workflowIdFor } = await import('../../config/plan');
      requireRotatable(config, secret);
      await ctx.withClient(config, async (client) => {
        const run = await latestRun(client, secret);
        if (!run) throw new ExitError(EXIT.NOT_FOUND, `${secret} has never been rotated`);
        const handle = client.workflow.getHandle(workflowIdFor(secret), run.runId, { followRuns: false });
        const status = await currentStatus(handle, run.status !== 'RUNNING').catch(() => null);
        if (status) return ctx.emit(formatWithGate(status, secret), status);
        const why =
          run.status === 'RUNNING'
            ? `no worker answered within ${QUERY_PATIENCE_MS / 1000} s; is one running? (rotator worker)`
            : 'it left no status';
        ctx.emit(`${formatRun(run)}\n  note: ${why}`, { ...run, note: why });
      });
    });
}

/** A dynamic secret has a keeper, not rotations: its lease, when it ends, what the keeper does next. */
async function keeperStatusOf(ctx: CliContext, config: Config, secret: string): Promise<void> {
  const { readerLeased, READER_LEASED } = await import('../../config/schema');
  if (readerLeased(config.secrets[secret]!))
    throw new ExitError(EXIT.NOT_FOUND, `${secret} is leased by its readers (no publish:): ${READER_LEASED}`);
  const { keeperStatus } = await import('../../client/lease-keepers');
  await ctx.withClient(config, async (client) => {
    const state = await keeperStatus(client, secret);
    if (!state) throw new ExitError(EXIT.NOT_FOUND, `no keeper runs for ${secret} (rotator schedule sync starts it)`);
    const at = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
    const lines = [
      `${secret}: keeper ${state.phase}, next action ${at(state.nextActionAt)}`,
      state.current
        ? `  lease ${state.current.leaseId} (${state.current.username}), version ${state.current.version}, expires ${at(state.current.expiresAt)}, renewed ${state.current.renewals}×${state.current.capped ? ', capped' : ''}`
        : '  no credential yet',
      `  re-issues ${state.generation}, old leases revoked ${state.revoked}`,
      ...(state.renewLateMs?.length
        ? [`  last renewals ran ${state.renewLateMs.map((ms) => `${Math.round(ms)} ms`).join(', ')} after they were due`]
        : []),
      ...state.irrevocable.map((l) => `  irrevocable: ${l.leaseId}: ${l.error}`),
      ...(state.warning ? [`  warning: ${state.warning}`] : []),
      ...(state.lastError ? [`  last error: ${state.lastError}`] : []),
    ];
    ctx.emit(lines.join('\n'), state);
  });
}

/** The status as formatStatus writes it, with the approval gate and any cancel: who decided, when, why. */
export function formatWithGate(s: RotationStatus, secret = s.secret, withPhases = true): string {
  const at = (ms: number | null) => (ms === null ? '?' : new Date(ms).toISOString());
  const lines = [formatStatus(s, withPhases)];
  const gate = s.approval;
  const why = (reason?: string) => (reason ? `: ${reason}` : '');
  if (gate) {
    // A rotation that ended without running changed nothing, unless it had to undo what a lost run of it did.
    const changed = s.phases.some((p) => p.name === 'rollback')
      ? '; what a lost run of it had changed was rolled back'
      : '; nothing was changed';
    switch (gate.decision) {
      case 'pending':
        lines.push(
          s.outcome === 'running'
            ? `  approval   waiting until ${at(gate.deadline)}: rotator approve ${secret} (or rotator reject ${secret} --reason …)`
            : '  approval   none given before the rotation ended',
        );
        break;
      case 'approved':
        lines.push(`  approval   approved by ${gate.by} at ${at(gate.at)}${why(gate.reason)}`);
        break;
      case 'rejected':
        lines.push(`  approval   rejected by ${gate.by} at ${at(gate.at)}${why(gate.reason)}${changed}`);
        break;
      case 'expired':
        lines.push(`  approval   expired at ${at(gate.at)}: nobody approved it in time${changed}`);
        break;
      default:
        assertNever(gate.decision);
    }
  }
  if (s.cancel)
    lines.push(`  cancelled  by ${s.cancel.by ?? '(through Temporal, no name)'} at ${at(s.cancel.at)}${why(s.cancel.reason)}`);
  return lines.join('\n');
}
