// `rotator plan SECRET`: a table of what a rotation of SECRET needs (✓ ready, ✗ with its fix, ⚠ unchecked); changes nothing.
import { Command } from 'commander';
import type { PreflightCheck, PreflightReport } from '../../client/preflight';
import { EXIT, ExitError, secretName, type CliContext } from '../context';

const MARK: Record<PreflightCheck['status'], string> = { ok: '✓', fail: '✗', warn: '⚠' };

/** One row per check (mark, check, detail), its fix on the line below; column widths from the longest check. */
export function formatPreflight(report: PreflightReport): string {
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  const width = Math.max(...report.checks.map((c) => c.check.length), 'CHECK'.length);
  const lines = [
    `${report.secret}: ${failed === 0 ? 'ready to rotate' : `${failed} of ${report.checks.length} checks failed`}` +
      (warned ? ` (${warned} not checked or not blocking)` : ''),
    `  ${' '} ${'CHECK'.padEnd(width)}  DETAIL`,
  ];
  for (const c of report.checks) {
    lines.push(`  ${MARK[c.status]} ${c.check.padEnd(width)}  ${c.detail}`);
    if (c.fix && c.status !== 'ok') lines.push(`    ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  return lines.join('\n');
}

export function planCommand(ctx: CliContext): Command {
  return new Command('plan')
    .description('check what a rotation of SECRET needs (admin rights, store writes, consumers, schedule); changes nothing')
    .argument('<secret>', 'secret name from the config', secretName)
    .action(async (secret: string) => {
      const config = await ctx.config();
      if (config.secrets[secret]?.encryption_key) {
        // A secret whose store holds ciphertexts: the key and how many ciphertexts are behind its newest version.
        const { keyPreflight } = await import('../../client/key-rotations');
        const report = await keyPreflight(config, secret);
        ctx.emit(formatPreflight(report), report);
        if (!report.ok) throw new ExitError(EXIT.BAD_INPUT, '');
        return;
      }
      const { refuseShortGrace } = await import('../../config/readers');
      refuseShortGrace(config.secrets, secret);
      const { preflight } = await import('../../client/preflight');
      const report = await preflight(config, secret);
      ctx.emit(formatPreflight(report), report);
      // The table said what failed; the exit code tells scripts (2, as validate for a config that cannot work).
      if (!report.ok) throw new ExitError(EXIT.BAD_INPUT, '');
    });
}
