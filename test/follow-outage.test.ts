// `rotate --wait` through a Temporal restart: following says Temporal is unreachable and goes on until it is back,
// instead of failing with "Failed to get Workflow execution history". The test's own Temporal dev server is killed
// (SIGKILL) and restarted on its db file and port, never the shared stack's. The rotation's one workflow task is
// completed through the server's API (no worker needed to end it).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { followRotation } from '../src/client/rotations';
import { temporalDevServerArgs, toolPath } from '../src/stack/local-stack';
import { freePorts } from '../src/stack/service';
import type { RotationStatus } from '../workflows/definitions';
import { connectTemporal } from '../src/client/temporal';

jest.setTimeout(120_000);

async function until(what: string, check: () => Promise<boolean> | boolean, withinMs = 60_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100)); // polling a condition, not a sleep as synchronisation
  }
}

const dir = mkdtempSync(join(tmpdir(), 'rotator-follow-'));
let ports: { port: number; httpPort: number; metricsPort: number };
let server: ChildProcess | null = null;

function startServer(): void {
  const args = temporalDevServerArgs({ dbFile: join(dir, 'temporal.db'), ...ports });
  server = spawn(toolPath('temporal'), [...args, '--headless'], { stdio: 'ignore' });
}

async function killServer(): Promise<void> {
  const s = server;
  if (!s || s.exitCode !== null || s.signalCode !== null) return;
  const exited = new Promise((resolve) => s.once('exit', resolve));
  s.kill('SIGKILL');
  await exited;
}

async function ready(address: string): Promise<boolean> {
  try {
    const conn = await connectTemporal({ address, connectTimeout: 1000 });
    try {
      await conn.withDeadline(Date.now() + 2000, () => conn.workflowService.describeNamespace({ namespace: 'default' }));
      return true;
    } finally {
      await conn.close();
    }
  } catch {
    return false;
  }
}

beforeAll(async () => {
  const [port, httpPort, metricsPort] = await freePorts(3);
  ports = { port: port!, httpPort: httpPort!, metricsPort: metricsPort! };
  startServer();
  await until('the Temporal dev server', () => ready(`127.0.0.1:${ports.port}`));
});
afterAll(async () => {
  await killServer();
});

it('says Temporal is unreachable, keeps following while it restarts, and ends with the outcome', async () => {
  const address = `127.0.0.1:${ports.port}`;
  const connection = await connectTemporal({ address });
  const client = new Client({ connection });
  const taskQueue = 'follow-outage';
  const handle = await client.workflow.start('rotateSecret', { taskQueue, workflowId: 'rotation-follow', args: [] });

  const said: string[] = [];
  const followed = followRotation(handle, undefined, 200, {
    onUnreachable: (reason) => said.push(`unreachable: ${reason}`),
    onBack: () => said.push('back'),
    unreachableForMs: 90_000,
  });
  followed.catch(() => undefined);

  await killServer();
  await until('following to notice the outage', () => said.length > 0);
  expect(said[0]).toMatch(/^unreachable: /);
  startServer();
  await until('the restarted server', () => ready(address));

  // The rotation ends: its workflow task, still scheduled across the restart, completes it with a status.
  const status = { secret: 'orders_db', outcome: 'succeeded', phases: [] } as unknown as RotationStatus;
  const api = await connectTemporal({ address });
  const task = await api.withDeadline(Date.now() + 70_000, () =>
    api.workflowService.pollWorkflowTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, identity: 'test' }),
  );
  await api.workflowService.respondWorkflowTaskCompleted({
    namespace: 'default',
    taskToken: task.taskToken,
    identity: 'test',
    commands: [
      {
        commandType: temporal.api.enums.v1.CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        completeWorkflowExecutionCommandAttributes: { result: { payloads: [defaultPayloadConverter.toPayload(status)] } },
      },
    ],
  });
  await api.close();

  await expect(followed).resolves.toEqual({ status, ok: true });
  expect(said.at(-1)).toBe('back');
  await connection.close();
});
