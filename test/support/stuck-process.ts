// A process that never ends by itself once told to stop (a handle nobody closes), with exitIfStuckAfterSignal armed
// at STUCK_DEADLINE_MS: test/worker-shutdown.unit.test.ts sends it SIGTERM.
import { exitIfStuckAfterSignal } from '../../workers/shutdown';

exitIfStuckAfterSignal(
  (ms) => process.stderr.write(`still running ${ms} ms after the signal to stop: exiting\n`),
  Number(process.env.STUCK_DEADLINE_MS),
);
setInterval(() => undefined, 60_000);
process.stdout.write('ready\n');
