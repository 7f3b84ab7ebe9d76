// The `rotator` command line: assembles the commands in ./commands and maps errors to documented exit codes.
import { Command, CommanderError } from 'commander';
import { RotatorError } from '../kernel/errors';
import { redact } from '../kernel/redact';
import { adoptCommand } from './commands/adopt';
import { auditCommand } from './commands/audit';
import { codecServerCommand } from './commands/codec-server';
import { approveCommand } from './commands/approve';
import { cancelCommand } from './commands/cancel';
import { expiryCommand } from './commands/expiry';
import { getCommand } from './commands/get';
import { historyCommand } from './commands/history';
import { keygenCommand } from './commands/keygen';
import { listCommand } from './commands/list';
import { listenCommand } from './commands/listen';
import { rejectCommand } from './commands/reject';
import { planCommand } from './commands/plan';
import { rotateCommand } from './commands/rotate';
import { scheduleCommand } from './commands/schedule';
import { stackCommand } from './commands/stack';
import { statusCommand } from './commands/status';
import { validateCommand } from './commands/validate';
import { workerCommand } from './commands/worker';
import { createContext, EXIT, ExitError, type Io } from './context';

export { EXIT, type Io } from './context';

const COMMANDS = [
  validateCommand,
  planCommand,
  adoptCommand,
  rotateCommand,
  statusCommand,
  approveCommand,
  rejectCommand,
  cancelCommand,
  getCommand,
  listCommand,
  historyCommand,
  auditCommand,
  expiryCommand,
  scheduleCommand,
  keygenCommand,
  workerCommand,
  listenCommand,
  codecServerCommand,
  stackCommand,
];

/**
 * `secrets` collects the secret values of every config a command loads; runCli scrubs all output with it, so they
 * never reach the terminal wherever they ended up (a path, a namespace, a verify query echoed by a driver).
 */
export function buildProgram(io: Io, secrets: string[] = []): Command {
  const program = new Command('rotator')
    .description('Rotate credentials as durable Temporal workflows.')
    .option('-c, --config <file>', 'config file', process.env.ROTATOR_CONFIG ?? 'rotator.yaml')
    .option('--json', 'machine-readable output', false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  const ctx = createContext(io, program, (values) => secrets.push(...values));
  for (const command of COMMANDS) {
    // Subcommands inherit neither exitOverride nor the output settings; give each the same.
    program.addCommand(
      command(ctx)
        .exitOverride()
        .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) }),
    );
  }
  return program;
}

/** What went wrong, as the exit code and the one line (or JSON document under --json) a caller gets. */
interface Failure {
  exitCode: number;
  code: string;
  message: string;
  field?: string;
  /** Every field named, when a config has more than one problem. */
  fields?: string[];
}

const EXIT_NAMES: Record<number, string> = {
  [EXIT.ROTATION_FAILED]: 'ROTATION_FAILED',
  [EXIT.BAD_INPUT]: 'BAD_INPUT',
  [EXIT.ALREADY_RUNNING]: 'ALREADY_RUNNING',
  [EXIT.NOT_FOUND]: 'NOT_FOUND',
  [EXIT.UNAVAILABLE]: 'UNAVAILABLE',
};

function failureOf(err: unknown): Failure | null {
  if (err instanceof CommanderError) {
    const ok =
      err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version' ||
      err.code === 'commander.help' ||
      err.exitCode === 0;
    return ok ? null : { exitCode: EXIT.BAD_INPUT, code: 'BAD_ARGUMENT', message: err.message.replace(/^error: /, '') };
  }
  if (err instanceof ExitError)
    return { exitCode: err.exitCode, code: EXIT_NAMES[err.exitCode] ?? 'ERROR', message: err.message };
  if (err instanceof RotatorError) {
    const exitCode = err.code === 'NOT_FOUND' ? EXIT.NOT_FOUND : err.code === 'TRANSIENT' ? EXIT.UNAVAILABLE : EXIT.BAD_INPUT;
    const issues = (err as { issues?: ReadonlyArray<{ path: string }> }).issues;
    const field = err.path ?? (issues?.length === 1 ? issues[0].path : undefined);
    const fields = issues && issues.length > 1 ? issues.map((i) => i.path) : undefined;
    return { exitCode, code: err.code, message: err.message, ...(field ? { field } : {}), ...(fields ? { fields } : {}) };
  }
  const message = err instanceof Error ? err.message : String(err);
  // A Temporal call that failed on the way (connection dropped, server gone) is an outage, not a failed rotation.
  if ((err as Error)?.name === 'ServiceError' || /\bUNAVAILABLE\b|Connection dropped/i.test(message))
    return { exitCode: EXIT.UNAVAILABLE, code: 'UNAVAILABLE', message };
  return { exitCode: EXIT.ROTATION_FAILED, code: 'ERROR', message };
}

/** Runs the CLI and returns the exit code; errors become one clear line on stderr, or one JSON document under --json. */
export async function runCli(
  argv: string[],
  io: Io = { out: (l) => console.log(l), err: (l) => console.error(l) },
): Promise<number> {
  const json = argv.includes('--json');
  const secrets: string[] = [];
  const safe: Io = { out: (l) => io.out(redact(l, secrets)), err: (l) => io.err(redact(l, secrets)) };
  // Under --json, commander's own messages would be a second, non-JSON line: the one document below says it.
  const program = buildProgram(json ? { out: safe.out, err: () => undefined } : safe, secrets);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    const failure = failureOf(err);
    if (!failure) return EXIT.OK;
    // An empty message: the command has said what there was to say (e.g. the status of a failed rotation).
    if (failure.message && json) {
      const { exitCode: _exit, ...error } = failure;
      safe.out(JSON.stringify({ ok: false, error }));
    } else if (failure.message && !(err instanceof CommanderError)) {
      safe.err(`rotator: ${failure.message}`); // commander has printed its own
    }
    return failure.exitCode;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
