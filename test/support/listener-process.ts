// `rotator listen` as its own process for tests: started with a config file, its address read from its first line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CodecKeys } from '../../src/client/codec/aes-gcm-codec';
import { codecKeyEnv } from './harness';
import { REPO_ROOT } from '../../src/stack/repo-root';
import { compiledScript } from './build-cache';

export interface ListenerProcess {
  url: string;
  pid: number;
  /** Resident memory of the process now, in bytes (from /proc). */
  rss(): number;
  stop(): Promise<void>;
}

export async function startListenerProcess(yaml: string, env: Record<string, string>, keys: CodecKeys): Promise<ListenerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-listener-'));
  const file = join(dir, 'rotator.yaml');
  writeFileSync(file, yaml, { mode: 0o600 });
  const child: ChildProcess = spawn(process.execPath, [compiledScript('src/listener/main.ts'), file], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...env,
      ROTATOR_CODEC_KEY: codecKeyEnv(keys),
      ROTATOR_LOG_LEVEL: process.env.LISTENER_LOG_LEVEL ?? 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      if (process.env.LISTENER_LOG_LEVEL) process.stderr.write(c);
      out += c.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) res(m[1]!.startsWith('http') ? m[1]! : '');
    });
    child.once('exit', (code) => rej(new Error(`the listener exited (${code}) before listening`)));
  });
  return {
    url,
    pid: child.pid!,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
