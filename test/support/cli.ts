// Runs the rotator CLI in this process, as a user would from a shell, capturing what it prints and its exit code.
import { runCli } from '../../src/cli/main';

export interface Run {
  code: number;
  out: string;
  err: string;
}

export async function cli(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
