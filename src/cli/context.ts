// What every CLI command shares: output, global options, documented exit codes, config and Temporal client access.
// Light on purpose: commands load the Temporal client and the codec only when they run, so `--help` stays quick.
import type { Client } from '@temporalio/client';
import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../config/schema';
import { DURATION, parseDuration } from '../kernel/duration';
import { RotatorError } from '../kernel/errors';

/** Documented in docs/cli.md; scripts switch on these. */
export const EXIT = {
  OK: 0,
  ROTATION_FAILED: 1,
  BAD_INPUT: 2,
  ALREADY_RUNNING: 3,
  NOT_FOUND: 4,
  UNAVAILABLE: 5,
} as const;

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Ends a command with an exit code and (unless empty) one line on stderr; actions throw it, never process.exit. */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface GlobalOptions {
  config: string;
  json: boolean;
}

export interface CliContext {
  io: Io;
  /** The global options, once commander has parsed them. */
  globals(): GlobalOptions;
  /** One human line, or one JSON document under --json. */
  emit(human: string, json: unknown): void;
  /** The config named by --config (or `file`). */
  config(file?: string): Promise<Config>;
  withClient<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T>;
}

/** `onSecrets` is told the secret values of each config loaded, so the output can be scrubbed of them. */
export function createContext(
  io: Io,
  program: Command,
  onSecrets: (values: ReadonlyArray<string>) => void = () => undefined,
): CliContext {
  const globals = () => program.opts<GlobalOptions>();
  return {
    io,
    globals,
    emit: (human, json) => io.out(globals().json ? JSON.stringify(json) : human),
    async config(file) {
      const { loadConfig, sensitiveValues } = await import('../config/load');
      const config = loadConfig(file ?? globals().config);
      onSecrets(sensitiveValues(config));
      return config;
    },
    async withClient(config, fn) {
      const { connectClient, dataConverterFromEnv, temporalConfigError } = await import('../client/temporal');
      let client: Client;
      try {
        client = await connectClient(config.temporal, dataConverterFromEnv());
      } catch (err) {
        if (err instanceof RotatorError && err.code !== 'TRANSIENT') throw err;
        throw new ExitError(EXIT.UNAVAILABLE, (err as Error).message);
      }
      try {
        return await fn(client);
      } catch (err) {
        throw temporalConfigError(err, config) ?? err;
      } finally {
        await client.connection.close();
      }
    },
  };
}

/** A secret name argument: the characters config names allow, checked before anything is loaded. */
export function secretName(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(value)) throw new InvalidArgumentError('expected a secret name from the config');
  return value;
}

/** A duration argument (`30s`, `5m`), as milliseconds. */
export function duration(value: string): number {
  if (!DURATION.test(value)) throw new InvalidArgumentError('expected a duration like 30s, 5m or 1h');
  return parseDuration(value);
}
