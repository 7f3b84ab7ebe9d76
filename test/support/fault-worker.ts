// A rotator worker process for the fault-injection harness: the production wiring plus the killing interceptor.
import { loadConfig } from '../../src/config/load';
import { dataConverterFromEnv } from '../../src/client/temporal';
import { exitIfStuckAfterSignal } from '../../workers/shutdown';
import { createRotatorWorker } from '../../workers/worker';
import { appendTrace, faultInterceptors } from './fault-injection';

async function main(): Promise<void> {
  const config = loadConfig(process.env.ROTATOR_CONFIG!);
  const rotator = await createRotatorWorker({
    config,
    dataConverter: dataConverterFromEnv(),
    workflowBundle: { codePath: process.env.ROTATOR_TEST_BUNDLE! },
    logLevel: 'ERROR',
    interceptors: {
      activity: faultInterceptors({
        killAt: process.env.ROTATOR_TEST_KILL_AT || undefined,
        traceFile: process.env.ROTATOR_TEST_TRACE || undefined,
      }),
    },
  });
  exitIfStuckAfterSignal((ms) => {
    process.stderr.write(`fault worker still running ${ms / 1000} s after the signal to stop: exiting\n`);
    appendTrace(process.env.ROTATOR_TEST_TRACE || undefined, 'stuck', { activity: '', n: 0 });
  });
  try {
    await rotator.worker.run();
  } finally {
    await rotator.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fault worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
