// An attempt its step gave up on changes nothing: the stores and targets a rotation uses refuse its calls.
import { asAttempt, liveOnly, stillWanted } from '../src/kernel/attempt';

it('lets an attempt call through until it ended, then refuses every call but a release, naming the call and step', async () => {
  const calls: string[] = [];
  const store = liveOnly(
    {
      async write(v: string) {
        calls.push(`write ${v}`);
      },
      async close() {
        calls.push('close');
      },
    },
    'store vault',
  );
  let release!: () => void;
  const answered = new Promise<void>((r) => (release = r));
  const attempt = asAttempt('promote of orders_db', async () => {
    await store.write('before');
    await answered; // the slow answer the step stopped waiting for
    await store.close();
    await store.write('after');
  });
  await Promise.resolve();
  attempt.end();
  release();
  await expect(attempt.result).rejects.toThrow('store vault write not sent: promote of orders_db had already ended');
  expect(calls).toEqual(['write before', 'close']);
  // Outside any attempt (the CLI, a test) nothing is refused.
  expect(() => stillWanted('write')).not.toThrow();
});
