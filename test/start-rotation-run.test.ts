// `rotate` without --wait names the run its start created (issue 19 #3), even when that run already ended and another
// run of the same workflow id began before the id was read. Deterministic: a client interceptor, on the real Temporal
// dev server, ends the run just started and starts another of the same id before startRotation sees the start's answer,
// so at the moment startRotation names a run the latest run of the id is provably someone else's. No worker polls the
// task queue, so neither run makes progress.
import { randomBytes } from 'node:crypto';
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { startRotation } from '../src/client/rotations';
import { parseConfig } from '../src/config/load';
import { planRotation } from '../src/config/plan';
import { testStack } from './support/stack';
import { connectTemporal } from '../src/client/temporal';

const hex = () => randomBytes(4).toString('hex');

describe('startRotation', () => {
  let connection: Connection;
  afterAll(async () => {
    await connection?.close();
  });

  it('names the run it started, not the latest run of the id, when another began before the start returned', async () => {
    const name = `race_${hex()}`;
    const yaml = [
      'secrets:',
      `  pg_admin_${name}: { provider: vault, path: secret/data/test/${name}-admin }`,
      `  ${name}:`,
      '    provider: vault',
      `    path: secret/data/test/${name}`,
      `    target: { type: postgresql, connection: secret://pg_admin_${name}, role: ${name} }`,
      '    rotation: { strategy: alternating-users }',
      '',
    ].join('\n');
    const config = parseConfig(yaml, { VAULT_ADDR: 'http://127.0.0.1:1', VAULT_TOKEN: 'not-read-here' }); // nothing reads a store
    const queue = `tq-race-${hex()}`; // no worker: the runs stay where they are
    connection = await connectTemporal({ address: testStack().temporal!.address });
    const plain = new Client({ connection, namespace: config.temporal.namespace });
    let ours: string | null = null;
    let other: string | null = null;
    const racing: WorkflowClientInterceptor = {
      async start(input, next) {
        ours = await next(input);
        await plain.workflow.getHandle(input.options.workflowId, ours).terminate('test: ended before rotate names it');
        const again = await plain.workflow.start(input.workflowType, {
          taskQueue: queue,
          workflowId: input.options.workflowId,
          args: [],
        });
        other = again.firstExecutionRunId;
        return ours;
      },
    };
    const client = new Client({ connection, namespace: config.temporal.namespace, interceptors: { workflow: [racing] } });
    const started = await startRotation(client, queue, planRotation(config, name), 'test:race');
    try {
      expect((await plain.workflow.getHandle(started.handle.workflowId).describe()).runId).toBe(other);
      expect(other).not.toBe(ours);
      expect(started).toMatchObject({ started: true, runId: ours });
    } finally {
      await plain.workflow
        .getHandle(started.handle.workflowId, other!)
        .terminate('test cleanup')
        .catch(() => undefined);
    }
  });
});
