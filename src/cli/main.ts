// The `rotator` command line: validate, rotate, status, list, history, worker. Never prints a secret value.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { userInfo } from 'node:os';
import { ensureLocalKeyFile } from '../client/codec/aes-gcm-codec';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { RotatorError } from '../kernel/errors';
import { planRotation, rotatableSecrets, workflowIdFor } from '../kernel/plan';
import { followRotation, hasWorkers, latestRun, queryStatus, rotationHistory, startRotation } from '../client/rotations';
import { connectClient, dataConverterFromEnv } from '../client/temporal';
import { formatPhase, formatRun, formatStatus } from './format';

/** Documented in the README; scripts switch on these. */
export const EXIT = {
  OK: 0,
  ROTATION_FAILED: 1,
  BAD_INPUT: 2,
  ALREADY_RUNNING: 3,
  NOT_FOUND: 4,
  UNAVAILABLE: 5,
} as const;

interface GlobalOptions {
  config: string;
  json: boolean;
}

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

function secretName(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(value)) throw new InvalidArgumentError('expected a secret name from the config');
  return value;
}

async function withClient<T>(config: Config, fn: (client: Awaited<ReturnType<typeof connectClient>>) => Promise<T>): Promise<T> {
  let client;
  try {
    client = await connectClient(config.temporal, dataConverterFromEnv());
  } catch (err) {
    if (err instanceof RotatorError) throw err;
    throw new ExitError(EXIT.UNAVAILABLE, `cannot reach Temporal at ${config.temporal.address}: ${(err as Error).message}`);
  }
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

export function buildProgram(io: Io): Command {
  const program = new Command('rotator')
    .description('Rotate credentials as durable Temporal workflows.')
    .option('-c, --config <file>', 'config file', process.env.ROTATOR_CONFIG ?? 'rotator.yaml')
    .option('--json', 'machine-readable output', false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const globals = () => program.opts<GlobalOptions>();
  const emit = (human: string, json: unknown) => io.out(globals().json ? JSON.stringify(json) : human);

  program
    .command('validate')
    .description('check a config file; changes nothing')
    .argument('[file]', 'config file (defaults to --config)')
    .action((file?: string) => {
      const path = file ?? globals().config;
      const config = loadConfig(path);
      const secrets = Object.keys(config.secrets);
      emit(`${path}: ok (${secrets.length} secrets, ${rotatableSecrets(config).length} rotatable)`, {
        ok: true,
        file: path,
        secrets,
      });
    });

  program
    .command('rotate')
    .description('start a rotation (one at a time per secret)')
    .argument('<secret>', 'secret name', secretName)
    .option('--wait', 'follow the rotation until it ends, showing each phase', false)
    .action(async (secret: string, opts: { wait: boolean }) => {
      const config = loadConfig(globals().config);
      const plan = planRotation(config, secret);
      await withClient(config, async (client) => {
        const { handle, started } = await startRotation(client, config.temporal.task_queue, plan, `cli:${userInfo().username}`);
        if (!started) {
          const msg = `a rotation of ${secret} is already running (workflow ${handle.workflowId})${opts.wait ? '; following it' : '; use --wait to follow it'}`;
          if (!opts.wait) {
            emit(msg, { secret, started: false, workflowId: handle.workflowId });
            throw new ExitError(EXIT.ALREADY_RUNNING, '');
          }
          if (!globals().json) io.err(msg);
        }
        if (!(await hasWorkers(client, config.temporal.task_queue).catch(() => true))) {
          io.err(
            `rotator: no worker is polling task queue ${config.temporal.task_queue}; the rotation waits until one runs (rotator worker)`,
          );
        }
        if (!opts.wait) {
          const runId = (await handle.describe()).runId;
          emit(`started rotation of ${secret} (workflow ${handle.workflowId}, run ${runId})`, {
            secret,
            started,
            workflowId: handle.workflowId,
            runId,
          });
          return;
        }
        const seen = new Set<string>();
        const { status, ok } = await followRotation(handle, (s) => {
          if (globals().json) return;
          for (const p of s.phases) {
            const key = `${p.name}:${p.startedAt}:${p.endedAt !== null}`;
            if (!seen.has(key) && p.endedAt !== null) {
              seen.add(key);
              io.out(formatPhase(p));
            }
          }
        });
        emit(formatStatus(status, false), status);
        if (!ok) throw new ExitError(EXIT.ROTATION_FAILED, '');
      });
    });

  program
    .command('status')
    .description('phase, timings and outcome of the latest rotation of a secret')
    .argument('<secret>', 'secret name', secretName)
    .action(async (secret: string) => {
      const config = loadConfig(globals().config);
      await withClient(config, async (client) => {
        const run = await latestRun(client, secret);
        if (!run) throw new ExitError(EXIT.NOT_FOUND, `${secret} has never been rotated`);
        const status = await queryStatus(client.workflow.getHandle(workflowIdFor(secret), run.runId)).catch(() => null);
        emit(status ? formatStatus(status) : formatRun(run), status ?? run);
      });
    });

  program
    .command('list')
    .description('rotatable secrets and their latest rotation')
    .action(async () => {
      const config = loadConfig(globals().config);
      await withClient(config, async (client) => {
        const rows = [];
        for (const secret of rotatableSecrets(config)) {
          const run = await latestRun(client, secret);
          rows.push({ secret, strategy: config.secrets[secret].rotation?.strategy, last: run });
        }
        emit(
          rows
            .map((r) => `${r.secret.padEnd(24)} ${String(r.strategy).padEnd(18)} ${r.last ? formatRun(r.last) : 'never rotated'}`)
            .join('\n'),
          rows,
        );
      });
    });

  program
    .command('history')
    .description('past rotations of a secret, newest first')
    .argument('<secret>', 'secret name', secretName)
    .option(
      '-n, --limit <n>',
      'how many',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
        return n;
      },
      20,
    )
    .action(async (secret: string, opts: { limit: number }) => {
      const config = loadConfig(globals().config);
      await withClient(config, async (client) => {
        const runs = await rotationHistory(client, secret, opts.limit);
        emit(runs.length ? runs.map(formatRun).join('\n') : `${secret} has never been rotated`, runs);
      });
    });

  program
    .command('keygen')
    .description('create a payload encryption key file (mode 0600) if it does not exist; prints its path, never the key')
    .argument('[file]', 'key file', '.rotator/codec.key')
    .action((file: string) => {
      const path = ensureLocalKeyFile(file);
      emit(`key file ${path}; use it with ROTATOR_CODEC_KEY_FILE=${path}`, { file: path });
    });

  program
    .command('worker')
    .description('run a worker: executes rotations from the task queue until SIGINT/SIGTERM')
    .action(async () => {
      const { runWorker } = await import('../../workers/main');
      await runWorker(globals().config);
    });

  return program;
}

/** Runs the CLI and returns the exit code; errors become one clear line on stderr. */
export async function runCli(
  argv: string[],
  io: Io = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0
        ? EXIT.OK
        : EXIT.BAD_INPUT;
    }
    if (err instanceof ExitError) {
      if (err.message) io.err(`rotator: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof RotatorError) {
      io.err(`rotator: ${err.message}`);
      return err.code === 'NOT_FOUND' ? EXIT.NOT_FOUND : EXIT.BAD_INPUT;
    }
    io.err(`rotator: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.ROTATION_FAILED;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
