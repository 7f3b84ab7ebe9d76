// `rotator expiry`: every rotatable and dynamic secret with when it last rotated, when it expires, and its state.
import { Command } from 'commander';
import type { SecretAssessment } from '../../../workflows/lifecycle-definitions';
import type { CliContext } from '../context';

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

export function expiryCommand(ctx: CliContext): Command {
  return new Command('expiry')
    .description('what the sweep would say now: last rotated, expires, state (ok, due, overdue, failing, needs-human)')
    .action(async () => {
      const config = await ctx.config();
      const { assessSecrets } = await import('../../../activities/lifecycle');
      const { ProviderRegistry, TargetRegistry } = await import('../../../activities/registry');
      const providers = new ProviderRegistry(config.providers);
      const targets = new TargetRegistry();
      try {
        await ctx.withClient(config, async (client) => {
          const assessment = await assessSecrets({ config, client, providers, targets }, Date.now(), undefined, {
            includeOk: true,
          });
          const rows = [...assessment.notOk].sort((a, b) => a.secret.localeCompare(b.secret));
          const line = (r: SecretAssessment) =>
            `${r.secret.padEnd(28)} ${when(r.lastRotated).padEnd(21)} ${when(r.expires).padEnd(21)} ${r.state.padEnd(12)} ${r.reasons.join('; ')}`;
          const header = `${'SECRET'.padEnd(28)} ${'LAST ROTATED'.padEnd(21)} ${'EXPIRES'.padEnd(21)} ${'STATE'.padEnd(12)} WHY`;
          ctx.emit([header, ...rows.map(line)].join('\n'), { counts: assessment.counts, secrets: rows });
        });
      } finally {
        await targets.close();
        await providers.close();
      }
    });
}
