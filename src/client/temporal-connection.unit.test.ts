// The client's gRPC interceptors when a connection closes while the SDK's retry waits between attempts. No server is
// needed: a loopback port that refuses connections keeps the retry going (UNAVAILABLE is retried).
import { createServer } from 'node:net';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Connection } from '@temporalio/client';
import { clientInterceptors } from './temporal';

async function refusingAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

test('a call retrying when its connection closes fails with an error its caller gets, instead of throwing from a timer', async () => {
  let attempts = 0;
  let secondAttempt!: () => void;
  const retrying = new Promise<void>((resolve) => (secondAttempt = resolve));
  // Below the product's interceptors: counts the attempts that reach the channel.
  const counter: Interceptor = (options, nextCall) => {
    attempts += 1;
    if (attempts === 2) secondAttempt();
    return new InterceptingCall(nextCall(options));
  };
  const uncaught: Error[] = [];
  const onUncaught = (err: Error) => uncaught.push(err);
  process.prependListener('uncaughtException', onUncaught);
  try {
    const connection = Connection.lazy({ address: await refusingAddress(), interceptors: [...clientInterceptors(), counter] });
    const call = connection.workflowService.getSystemInfo({});
    const settled = call.then(
      () => null,
      (err: Error & { code?: number }) => err,
    );
    await retrying; // the first attempt failed and the retry made another: the retry loop is running
    await connection.close();
    const err = await settled;
    expect(err?.message).toMatch(/the connection to Temporal is closed: Channel has been shut down/);
    expect(err?.code).toBe(1); // CANCELLED: not retried again
    expect(uncaught).toEqual([]);
  } finally {
    process.removeListener('uncaughtException', onUncaught);
  }
}, 30_000); // a hang guard: without the guard interceptor the call never settles
