// A Temporal dev server of the test's own, with its Web UI on and pointed at a codec endpoint: not the shared stack's
// (which runs --headless), so a browser test can load the UI, and stop it after.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporalDevServerArgs, toolPath } from '../../src/stack/local-stack';
import { freePorts } from '../../src/stack/service';
import { connectTemporal } from '../../src/client/temporal';

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 60_000;

export interface UiDevServer {
  /** host:port of the gRPC frontend. */
  address: string;
  /** http://127.0.0.1:<ui port>, also the origin the codec server must allow. */
  uiUrl: string;
  /** From spawn until gRPC, the default namespace and the UI all answered. */
  startupMs: number;
  stop(): Promise<void>;
}

async function answers(address: string, uiUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${uiUrl}/api/v1/settings`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    const conn = await connectTemporal({ address, connectTimeout: 1000 });
    try {
      // The default namespace is registered asynchronously after the frontend starts answering.
      await conn.withDeadline(Date.now() + 3000, async () => {
        await conn.workflowService.describeNamespace({ namespace: 'default' });
        await conn.workflowService.listWorkflowExecutions({ namespace: 'default', pageSize: 1 });
      });
    } finally {
      await conn.close();
    }
    return true;
  } catch {
    return false;
  }
}

/** `uiPort` is chosen by the caller when the codec server must know the UI's origin before this starts. */
export async function startUiDevServer(options: { codecEndpoint: string; uiPort?: number }): Promise<UiDevServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-ui-dev-'));
  const [port, httpPort, metricsPort, freeUi] = await freePorts(4);
  const uiPort = options.uiPort ?? freeUi;
  const address = `${HOST}:${port}`;
  const uiUrl = `http://${HOST}:${uiPort}`;
  const logFile = join(dir, 'temporal.log');
  const log = openSync(logFile, 'a');
  const t0 = Date.now();
  const child: ChildProcess = spawn(
    toolPath('temporal'),
    [
      ...temporalDevServerArgs({ dbFile: join(dir, 'temporal.db'), port, httpPort, metricsPort }),
      '--ui-port',
      String(uiPort),
      '--ui-codec-endpoint',
      options.codecEndpoint,
      // The closed network cannot reach temporal.io's news feed.
      '--ui-disable-news-fetch',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);

  const stop = async () => {
    process.off('exit', kill);
    if (exited === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Readiness is a condition to poll for: the server says nothing on a channel when it is up.
  for (let delay = 50; !(await answers(address, uiUrl)); delay = Math.min(delay * 2, 500)) {
    if (exited !== undefined || Date.now() - t0 > START_TIMEOUT_MS) {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
      await stop();
      throw new Error(
        `temporal dev server with UI did not start (${exited !== undefined ? `exit ${exited}` : 'timeout'}):\n${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  return { address, uiUrl, startupMs: Date.now() - t0, stop };
}
