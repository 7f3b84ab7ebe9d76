// `rotator rotate SECRET [--wait]`: start a rotation, or attach to the one running; --wait follows it phase by phase.
// `--all` / `--selector`: many at once, as one mass rotation (./rotate-mass.ts).
import { Command, InvalidArgumentError, Option } from 'commander';
import { setMaxListeners } from 'node:events';
import { userInfo } from 'node:os';
import { RotatorError } from '../../kernel/errors';
import { formatDuration } from '../../kernel/duration';
import { duration, EXIT, ExitError, secretName, type CliContext } from '../context';
import { formatPhase } from '../format';
import { formatWithGate } from './status';
import { rotateMass, type MassOptions } from './rotate-mass';
import type { Pickup } from '../../client/rotations';

function positiveInt(value: string): number {
  if (!/^[1-9]\d{0,3}$/.test(value)) throw new InvalidArgumentError('expected a whole number from 1 to 9999');
  return Number(value);
}

/** How long `rotate` waits to see a worker take the rotation up before it warns that none has. */
const PICKUP_WAIT_MS = 5_000;
/** How long `rotate --wait` follows by default: long enough for a grace period of minutes, never forever. */
const DEFAULT_TIMEOUT_MS = 30 * 60_000;
/** How long `rotate --wait` follows through a Temporal outage (a restart, a failover) before it gives up. */
const DEFAULT_UNREACHABLE_MS = 5 * 60_000;

export function rotateCommand(ctx: CliContext): Command {
  return new Command('rotate')
    .description('start a rotation (one at a time per secret), or rotate many at once with --all or --selector')
    .argument('[secret]', 'secret name', secretName)
    .option('--all', 'rotate every rotatable secret of the config, as one mass rotation', false)
    .option('--selector <expr>', 'rotate the secrets matching labels or a name glob: team=payments,env!=dev,name=orders_*')
    .option('--new', 'with --all/--selector: rotate every selected secret again, even those an earlier run rotated', false)
    .option('--detach', 'with --all/--selector: start the run and return (it goes on; run the command again to follow it)', false)
    .addOption(
      new Option(
        '--max-concurrent <n>',
        'with --all/--selector: rotations in flight at once (mass_rotation.max_concurrent)',
      ).argParser(positiveInt),
    )
    .option('--wait', 'follow the rotation until it ends, showing each phase', false)
    .addOption(
      new Option('--timeout <duration>', 'with --wait: stop following after this long (the rotation goes on)')
        .argParser(duration)
        .default(DEFAULT_TIMEOUT_MS, formatDuration(DEFAULT_TIMEOUT_MS)),
    )
    .addOption(
      new Option(
        '--unreachable-timeout <duration>',
        'with --wait: keep following through a Temporal outage this long before giving up (the rotation goes on)',
      )
        .argParser(duration)
        .default(DEFAULT_UNREACHABLE_MS, formatDuration(DEFAULT_UNREACHABLE_MS)),
    )
    .action(
      async (
        secret: string | undefined,
        opts: { wait: boolean; timeout: number; unreachableTimeout: number } & MassOptions,
        cmd: Command,
      ) => {
        // No flag is silently ignored: one that does not apply to what was asked is refused before anything starts.
        const given = (name: string) => !['default', undefined].includes(cmd.getOptionValueSource(name));
        const refuse = (flag: string, why: string): never => {
          throw new RotatorError('CONFIG_INVALID', `${flag} ${why}; nothing was started`, flag);
        };
        if (opts.all || opts.selector !== undefined) {
          if (secret) throw new RotatorError('CONFIG_INVALID', `give a secret or --all/--selector, not both`, 'secret');
          if (opts.detach && opts.wait) refuse('--wait', 'follows the run to its end; --detach returns at once: give one');
          if (opts.detach && given('timeout'))
            refuse('--timeout', 'limits how long the run is followed; --detach does not follow it');
          if (given('unreachableTimeout'))
            refuse(
              '--unreachable-timeout',
              'applies only to rotate <secret> --wait; --all/--selector keep following through an outage',
            );
          // --wait: following is what --all/--selector do unless --detach; --timeout bounds it (the run goes on).
          return rotateMass(ctx, { ...opts, timeoutMs: given('timeout') ? opts.timeout : undefined });
        }
        if (!secret) throw new RotatorError('CONFIG_INVALID', 'expected a secret name, or --all, or --selector <expr>', 'secret');
        if (opts.new) refuse('--new', 'applies only with --all/--selector (one secret always rotates again)');
        if (opts.detach) refuse('--detach', 'applies only with --all/--selector (rotate <secret> returns at once unless --wait)');
        if (given('maxConcurrent')) refuse('--max-concurrent', 'applies only with --all/--selector');
        if (!opts.wait && given('timeout')) refuse('--timeout', 'applies only with --wait');
        if (!opts.wait && given('unreachableTimeout')) refuse('--unreachable-timeout', 'applies only with --wait');
        const { io, emit } = ctx;
        const json = ctx.globals().json;
        const config = await ctx.config();
        if (config.secrets[secret]?.encryption_key) return rotateKeyCommand(ctx, config, secret, opts.wait, opts.timeout);
        const { planRotation } = await import('../../config/plan');
        const plan = planRotation(config, secret);
        const { awaitPickup, followRotation, hasWorkers, startRotation } = await import('../../client/rotations');
        await ctx.withClient(config, async (client) => {
          const { handle, started, runId } = await startRotation(
            client,
            config.temporal.task_queue,
            plan,
            `cli:${userInfo().username}`,
          );
          if (!started) {
            const msg = `a rotation of ${secret} is already running (workflow ${handle.workflowId})${opts.wait ? '; following it' : '; use --wait to follow it'}`;
            if (!opts.wait) {
              emit(msg, {
                ok: false,
                secret,
                started: false,
                workflowId: handle.workflowId,
                error: { code: 'ALREADY_RUNNING', message: msg },
              });
              throw new ExitError(EXIT.ALREADY_RUNNING, '');
            }
            if (!json) io.err(msg);
          }
          /** A rotation no worker can read (codec keys): stopped if this command started it, before it changed anything. */
          const stopUnreadable = async (reason: string): Promise<never> => {
            // awaitPickup says so only when no step has run: stopping it changes nothing. The reason stays out of the
            // terminate record, which the codec does not encrypt.
            if (started) await handle.terminate('rotator: no worker could read this rotation (codec keys); nothing was changed');
            throw new RotatorError(
              'CONFIG_INVALID',
              `no worker could read the rotation of ${secret}: ${reason}; ${started ? 'it was stopped before it changed anything' : 'it is stuck until a worker with the right keys runs'}`,
              'codec',
            );
          };
          let pickupLate: Promise<Pickup> | undefined;
          if (!(await hasWorkers(client, config.temporal.task_queue).catch(() => true))) {
            io.err(
              `rotator: no worker is polling task queue ${config.temporal.task_queue}; the rotation waits until one runs (rotator worker)`,
            );
          } else {
            const pickup = await awaitPickup(client, handle, config.temporal.task_queue, PICKUP_WAIT_MS);
            if (pickup.state === 'unreadable') await stopUnreadable(pickup.reason);
            if (pickup.state === 'waiting') {
              // A busy worker may fail its first task only later: while following, keep looking (see below).
              if (opts.wait) {
                pickupLate = awaitPickup(client, handle, config.temporal.task_queue, opts.timeout, 500);
                pickupLate.catch(() => undefined); // the connection closes under it once the command is done
              }
              io.err(
                `rotator: no worker has picked the rotation up within ${PICKUP_WAIT_MS / 1000} s (a worker that died still counts as polling for a while); it waits until one runs (rotator worker)`,
              );
            }
          }
          // Said once, whether starting it or attaching to it: nothing happens until someone decides.
          const gate = plan.approval
            ? `; it waits for approval (rotator approve ${secret}, or rotator reject ${secret} --reason …) for up to ${formatDuration(plan.approval.timeoutMs)}`
            : '';
          if (!opts.wait) {
            // The run this command started (not handle.describe(): that is the id's latest run, maybe another's by now).
            emit(`started rotation of ${secret} (workflow ${handle.workflowId}, run ${runId})${gate}`, {
              secret,
              started,
              workflowId: handle.workflowId,
              runId,
              ...(plan.approval ? { approval: 'required' } : {}),
            });
            return;
          }
          if (gate && !json) io.err(`rotator: rotation of ${secret}${gate}`);
          const seen = new Set<string>();
          // Aborted at the timeout, so no long poll outlives the command (and its closed connection).
          const abort = new AbortController();
          setMaxListeners(0, abort.signal); // every status poll listens on it while it runs
          const following = client.withAbortSignal(abort.signal, () =>
            followRotation(
              handle,
              (s) => {
                if (json) return;
                for (const p of s.phases) {
                  const key = `${p.name}:${p.startedAt}:${p.endedAt !== null}`;
                  if (!seen.has(key) && p.endedAt !== null) {
                    seen.add(key);
                    io.out(formatPhase(s, p));
                  }
                }
              },
              200,
              {
                unreachableForMs: opts.unreachableTimeout,
                onUnreachable: (reason) =>
                  io.err(
                    `rotator: Temporal is unreachable (${reason}); still following the rotation of ${secret} for up to ${formatDuration(opts.unreachableTimeout)} (--unreachable-timeout)`,
                  ),
                onBack: () => io.err(`rotator: Temporal answers again; following the rotation of ${secret}`),
              },
            ),
          );
          let timer: NodeJS.Timeout | undefined;
          const gaveUp = new Promise<null>((resolve) => {
            timer = setTimeout(() => resolve(null), opts.timeout);
          });
          const unreadable = new Promise<Extract<Pickup, { state: 'unreadable' }>>((resolve) => {
            void pickupLate?.then((p) => (p.state === 'unreadable' ? resolve(p) : undefined)).catch(() => undefined);
          });
          const first = await Promise.race([following, gaveUp, unreadable]).finally(() => clearTimeout(timer));
          if (first && 'state' in first) {
            abort.abort();
            await following.catch(() => undefined);
            await stopUnreadable(first.reason);
          }
          const outcome = first && 'status' in first ? first : null;
          if (!outcome) {
            abort.abort();
            await following.catch(() => undefined);
            throw new ExitError(
              EXIT.UNAVAILABLE,
              `the rotation of ${secret} is still running after --timeout ${formatDuration(opts.timeout)}; it goes on without this command: follow it with rotator status ${secret}`,
            );
          }
          emit(formatWithGate(outcome.status, secret, false), outcome.status);
          if (!outcome.ok) throw new ExitError(EXIT.ROTATION_FAILED, '');
        });
      },
    );
}

/** `rotate` of a secret whose store holds ciphertexts: a key rotation (rotate, rewrap, grace, raise, verify). */
async function rotateKeyCommand(
  ctx: CliContext,
  config: Awaited<ReturnType<CliContext['config']>>,
  secret: string,
  wait: boolean,
  timeoutMs: number,
): Promise<void> {
  const { planKeyRotation } = await import('../../config/keys');
  const { startKeyRotation } = await import('../../client/key-rotations');
  const plan = planKeyRotation(config, secret);
  await ctx.withClient(config, async (client) => {
    const { handle, started, runId } = await startKeyRotation(
      client,
      config.temporal.task_queue,
      plan,
      `cli:${userInfo().username}`,
    );
    if (!wait) {
      if (!started) {
        ctx.emit(`a rotation of ${secret} is already running (workflow ${handle.workflowId}); use --wait to follow it`, {
          ok: false,
          secret,
          started: false,
          workflowId: handle.workflowId,
          error: { code: 'ALREADY_RUNNING', message: `a rotation of ${secret} is already running` },
        });
        throw new ExitError(EXIT.ALREADY_RUNNING, '');
      }
      ctx.emit(`started key rotation of ${secret} (workflow ${handle.workflowId}, run ${runId})`, {
        secret,
        started,
        workflowId: handle.workflowId,
        runId,
      });
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([
      handle.result().then(
        (status) => ({ ok: true as const, status }),
        (err: unknown) => ({ ok: false as const, message: (err as { cause?: Error }).cause?.message ?? (err as Error).message }),
      ),
      gaveUp,
    ]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout')
      throw new ExitError(
        EXIT.UNAVAILABLE,
        `the key rotation of ${secret} is still running after --timeout ${formatDuration(timeoutMs)}; it goes on without this command`,
      );
    if (!outcome.ok) {
      ctx.emit(`✗ key rotation of ${secret} failed: ${outcome.message}`, {
        ok: false,
        secret,
        error: { message: outcome.message },
      });
      throw new ExitError(EXIT.ROTATION_FAILED, '');
    }
    const s = outcome.status;
    ctx.emit(
      `✓ key rotation of ${secret} succeeded: version ${s.fromVersion} → ${s.version}, ${s.rewrapped} of ${s.ciphertexts} ciphertexts rewrapped, min_decryption_version ${s.minDecryptionBefore} → ${s.minDecryption}`,
      { ok: true, ...s },
    );
  });
}
