// Runs git and sops as child processes (no shell): arguments as an array, input on stdin, output collected.
import { spawn } from 'node:child_process';
import { RotatorError } from '../../../src/kernel/errors';
import { REQUEST_TIMEOUT_MS, seconds } from '../../timeouts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** How long the command may run before it is killed and the call fails TRANSIENT (a remote that does not answer). */
  timeoutMs?: number;
}

/** Runs `command args…` to its end; never throws for a non-zero exit (the caller decides what it means). */
export function run(command: string, args: ReadonlyArray<string>, options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    // Like every request of a step: it ends well within the step's timeout, so a hung git remote fails the attempt.
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new RotatorError('TRANSIENT', `${command} did not end within ${seconds(timeoutMs)}`));
    }, timeoutMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // ENOENT: the binary is missing; the message names the command, never an argument.
      reject(
        new RotatorError(
          e.code === 'ENOENT' ? 'CONFIG_INVALID' : 'TRANSIENT',
          e.code === 'ENOENT'
            ? `${command} not found (install it, or name it in the provider block)`
            : `${command}: ${e.code ?? e.name}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined); // a child that exits before reading its input
    child.stdin.end(options.input ?? '');
  });
}
