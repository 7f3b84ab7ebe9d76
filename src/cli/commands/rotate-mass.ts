// `rotator rotate --all | --selector <expr>`: rotate a whole estate or a slice of it as one workflow run, under each
// provider's write budget, with a progress bar (a terminal) or progress lines, and a table of outcomes at the end.
import { userInfo } from 'node:os';
import { formatDuration } from '../../kernel/duration';
import { RotatorError } from '../../kernel/errors';
import { EXIT, ExitError, type CliContext } from '../context';
import type { MassOutcome, MassProgress, MassResult } from '../../../workflows/mass-definitions';

export interface MassOptions {
  all: boolean;
  selector?: string;
  new: boolean;
  maxConcurrent?: number;
  detach: boolean;
  /** --timeout: stop following after this long (the run goes on); unset: follow to the end. */
  timeoutMs?: number;
}

/** Each outcome's mark and words, in the order the summary lists them. */
const OUTCOMES: ReadonlyArray<{ outcome: MassOutcome; mark: string; words: string }> = [
  { outcome: 'succeeded', mark: '✓', words: 'rotated' },
  { outcome: 'already-done', mark: '✓', words: 'rotated by an earlier run of this selection' },
  { outcome: 'already-running', mark: '✗', words: 'another rotation of it was running: run this again' },
  { outcome: 'failed', mark: '✗', words: 'failed before it changed anything' },
  { outcome: 'rolled-back', mark: '✗', words: 'rolled back: the old credential is current and valid' },
  { outcome: 'rollback-incomplete', mark: '✗', words: 'rollback incomplete: a person must look' },
  { outcome: 'revoke-incomplete', mark: '✗', words: 'rotated, but the old credential is still valid' },
  { outcome: 'rejected', mark: '✗', words: 'rejected at its approval gate' },
  { outcome: 'expired', mark: '✗', words: 'nobody approved it in time' },
  { outcome: 'cancelled', mark: '✗', words: 'cancelled' },
];

const isOk = (o: MassOutcome) => o === 'succeeded' || o === 'already-done';

/** What has ended this run (not carried from an earlier one), for the rate and the ETA. */
function endedNow(p: MassProgress): number {
  return Object.entries(p.counts).reduce((n, [o, c]) => (o === 'already-done' ? n : n + (c ?? 0)), 0);
}

function etaMs(p: MassProgress, now: number): number | null {
  const ended = endedNow(p);
  const left = p.waiting + p.running;
  if (ended === 0) return null;
  return ((now - p.startedAt) / ended) * left;
}

export function progressLine(p: MassProgress, now: number, width = 24): string {
  const ended = p.total - p.waiting - p.running;
  const filled = p.total === 0 ? width : Math.round((ended / p.total) * width);
  const ok = (p.counts.succeeded ?? 0) + (p.counts['already-done'] ?? 0);
  const bad = ended - ok;
  const eta = etaMs(p, now);
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${ended}/${p.total}  ✓ ${ok}  ✗ ${bad}  running ${p.running}` +
    `  ${formatDuration(Math.max(0, now - p.startedAt))} elapsed` +
    (eta === null ? '' : `  ETA ${formatDuration(Math.round(eta / 1000) * 1000)}`)
  );
}

/** The table of outcomes, then one line per secret that did not end rotated. */
export function summaryLines(runId: string, r: MassResult, skipped: Array<{ secret: string; reason: string }>): string[] {
  const lines = [
    `mass rotation ${runId} (${r.selector}): ${r.total} secrets in ${formatDuration(Math.max(0, (r.endedAt ?? r.startedAt) - r.startedAt))}` +
      (Object.keys(r.budgets).length
        ? `; write budgets ${Object.entries(r.budgets)
            .map(([k, v]) => `${k} ${v}/s`)
            .join(', ')}`
        : ''),
    '',
    '  outcome               count',
  ];
  for (const { outcome, mark } of OUTCOMES) {
    const n = r.counts[outcome] ?? 0;
    if (n > 0) lines.push(`  ${mark} ${outcome.padEnd(20)}${String(n).padStart(5)}`);
  }
  if (skipped.length) lines.push(`  - ${'not rotatable'.padEnd(20)}${String(skipped.length).padStart(5)}`);
  const bad = Object.entries(r.results).filter(([, e]) => !isOk(e.outcome));
  if (bad.length) lines.push('');
  for (const [secret, e] of bad.sort(([a], [b]) => a.localeCompare(b))) {
    const words = OUTCOMES.find((o) => o.outcome === e.outcome)?.words ?? e.outcome;
    lines.push(`✗ ${secret}: ${e.outcome}${e.error ? ` — ${e.code ? `[${e.code}] ` : ''}${e.error}` : ` — ${words}`}`);
  }
  for (const s of skipped) lines.push(`- ${s.secret}: not rotated: ${s.reason}`);
  return lines;
}

export async function rotateMass(ctx: CliContext, opts: MassOptions): Promise<void> {
  const { io, emit } = ctx;
  const json = ctx.globals().json;
  if (opts.all && opts.selector !== undefined)
    throw new RotatorError('CONFIG_INVALID', 'give --all or --selector, not both', '--selector');
  const config = await ctx.config();
  const { selectSecrets, MASS_DEFAULTS } = await import('../../config/mass');
  const selection = selectSecrets(config.secrets, opts.all ? null : opts.selector!);
  if (selection.secrets.length === 0)
    throw new RotatorError(
      'NOT_FOUND',
      `no rotatable secret matches ${selection.selector}${selection.skipped.length ? ` (${selection.skipped.length} match but are not rotatable)` : ''}`,
      opts.all ? '--all' : '--selector',
    );
  const maxConcurrent = opts.maxConcurrent ?? (config.mass_rotation ?? MASS_DEFAULTS).max_concurrent;
  const { followMassRotation, startMassRotation } = await import('../../client/mass-rotations');
  await ctx.withClient(config, async (client) => {
    const started = await startMassRotation(client, config.temporal.task_queue, selection, {
      fresh: opts.new,
      maxConcurrent,
      requestedBy: `cli:${userInfo().username}`,
    });
    const { handle, runId } = started;
    if (started.state === 'nothing-left') {
      emit(
        `✓ every one of the ${selection.secrets.length} secrets of ${selection.selector} was rotated by run ${runId}; nothing left to start (--new rotates them all again)`,
        { ok: true, runId, state: started.state, total: selection.secrets.length },
      );
      return;
    }
    const what =
      started.state === 'attached'
        ? `following mass rotation ${runId}, still running (${selection.selector})`
        : `started mass rotation ${runId}: ${selection.secrets.length - started.carried} of ${selection.secrets.length} secrets` +
          (started.carried ? ` (${started.carried} rotated by an earlier run)` : '') +
          `, at most ${maxConcurrent} at once`;
    if (opts.detach) {
      emit(`${what}; it goes on without this command: run the same command again to follow it`, {
        runId,
        state: started.state,
        total: selection.secrets.length,
        carried: started.carried,
      });
      return;
    }
    if (!json) io.err(`rotator: ${what}`);
    const tty = !json && process.stderr.isTTY ? process.stderr : null;
    let lastLine = '';
    let lastAt = 0;
    // Aborted at --timeout, so no long poll outlives the command (and its closed connection).
    const abort = new AbortController();
    const following = client.withAbortSignal(abort.signal, () =>
      followMassRotation(handle, (p) => {
        const now = Date.now();
        if (json) return;
        if (!p) {
          if (now - lastAt > 5_000)
            io.err('rotator: the run does not answer (no worker, or Temporal away); it goes on, still following');
          lastAt = now;
          return;
        }
        const line = progressLine(p, now);
        if (tty) tty.write(`\r\x1b[2K${line}`);
        else if (now - lastAt >= 2_000 && line !== lastLine) {
          io.err(line);
          lastAt = now;
        }
        lastLine = line;
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<null>((resolve) => {
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => resolve(null), opts.timeoutMs);
    });
    const result = await Promise.race([following, gaveUp]).finally(() => clearTimeout(timer));
    if (!result) {
      abort.abort();
      await following.catch(() => undefined);
      if (tty) tty.write('\n');
      throw new ExitError(
        EXIT.UNAVAILABLE,
        `mass rotation ${runId} is still running after --timeout ${formatDuration(opts.timeoutMs!)}; it goes on without this command: run the same command again to follow it`,
      );
    }
    if (tty) tty.write(`\r\x1b[2K${progressLine({ ...result, running: 0, waiting: 0 }, result.endedAt ?? Date.now())}\n`);
    const ok = Object.values(result.results).every((e) => isOk(e.outcome));
    if (json) emit('', { ok, runId, state: started.state, ...result, skipped: selection.skipped });
    else for (const line of summaryLines(runId, result, selection.skipped)) io.out(line);
    if (!ok) throw new ExitError(EXIT.ROTATION_FAILED, '');
  });
}
