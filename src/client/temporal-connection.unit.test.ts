// The client's gRPC interceptors when a connection closes: while the SDK's retry waits between attempts, and before a
// call is made. No server is needed: a free loopback port refuses connections, so every attempt fails UNAVAILABLE
// (which the retry retries).
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Connection } from '@temporalio/client';
import { freePorts } from '../stack/service';
import { clientInterceptors } from './temporal';

const CANCELLED = 1;

async function refusingAddress(): Promise<string> {
  const [port] = await freePorts(1);
  return `127.0.0.1:${port}`;
}

/**
 * Below the product's interceptors, where each attempt reaches the channel: counts the attempts made, and tells when
 * the n-th has ended with a status (the retry's timer for the next one is armed by then, in the same tick).
 */
function attemptCounter(n: number): { interceptor: Interceptor; attempts: () => number; nthEnded: Promise<void> } {
  let attempts = 0;
  let ended!: () => void;
  const nthEnded = new Promise<void>((resolve) => (ended = resolve));
  const interceptor: Interceptor = (options, nextCall) => {
    const attempt = ++attempts;
    return new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        // Only the status is watched; the rest passes through as it is.
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            nextStatus(status);
            if (attempt === n) ended();
          },
        });
      },
    });
  };
  return { interceptor, attempts: () => attempts, nthEnded };
}

test('a call whose connection closes while the retry waits fails with CANCELLED to its caller, not from a timer', async () => {
  const counter = attemptCounter(2);
  const connection = Connection.lazy({
    address: await refusingAddress(),
    interceptors: [...clientInterceptors(), counter.interceptor],
  });
  const call = connection.workflowService.getSystemInfo({}).then(
    () => null,
    (err: Error & { code?: number }) => err,
  );
  await counter.nthEnded; // the second attempt failed; the retry waits to make the third
  await connection.close();
  const err = await call;
  expect(err?.message).toMatch(/the connection to Temporal is closed: Channel has been shut down/);
  expect(err?.code).toBe(CANCELLED); // not retried again: the third attempt, refused by the closed channel, was the last
  expect(counter.attempts()).toBe(3);
}, 30_000); // a hang guard: without the guard interceptor the call never settles

test('a call made after its connection closed fails with CANCELLED', async () => {
  const connection = Connection.lazy({ address: await refusingAddress(), interceptors: clientInterceptors() });
  await connection.close();
  await expect(connection.workflowService.getSystemInfo({})).rejects.toMatchObject({
    code: CANCELLED,
    message: expect.stringMatching(/the connection to Temporal is closed/),
  });
}, 30_000);
