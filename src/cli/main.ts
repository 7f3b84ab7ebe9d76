// The `rotator` command line: assembles the commands in ./commands and maps errors to documented exit codes.
import { Command, CommanderError } from 'commander';
import { RotatorError } from '../kernel/errors';
import { historyCommand } from './commands/history';
import { keygenCommand } from './commands/keygen';
import { listCommand } from './commands/list';
import { rotateCommand } from './commands/rotate';
import { statusCommand } from './commands/status';
import { validateCommand } from './commands/validate';
import { workerCommand } from './commands/worker';
import { createContext, EXIT, ExitError, type Io } from './context';

export { EXIT, type Io } from './context';

const COMMANDS = [validateCommand, rotateCommand, statusCommand, listCommand, historyCommand, keygenCommand, workerCommand];

export function buildProgram(io: Io): Command {
  const program = new Command('rotator')
    .description('Rotate credentials as durable Temporal workflows.')
    .option('-c, --config <file>', 'config file', process.env.ROTATOR_CONFIG ?? 'rotator.yaml')
    .option('--json', 'machine-readable output', false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  const ctx = createContext(io, program);
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
      return err.code === 'NOT_FOUND' ? EXIT.NOT_FOUND : err.code === 'TRANSIENT' ? EXIT.UNAVAILABLE : EXIT.BAD_INPUT;
    }
    io.err(`rotator: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.ROTATION_FAILED;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
