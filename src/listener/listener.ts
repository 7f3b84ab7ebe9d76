// `rotator listen`: the event sources of `triggers:` (SQS pollers, one HTTP server for webhooks) feeding one
// dispatcher. Its own process, so it scales apart from workers; it only starts workflows, never rotates itself.
import type { Client } from '@temporalio/client';
import type { Config } from '../config/schema';
import { RotatorError } from '../kernel/errors';
import type { Logger } from '../kernel/log';
import { createDispatch } from './dispatch';
import { startHttpListener } from './http';
import { startSqsSource } from './sqs';

export interface Listener {
  /** Where the HTTP server listens, when any webhook source is configured. */
  address: { host: string; port: number } | null;
  stop(): Promise<void>;
}

export async function startListener(config: Config, options: { client: Client; log: Logger }): Promise<Listener> {
  const triggers = config.triggers;
  if (!triggers) throw new RotatorError('CONFIG_INVALID', 'the config has no triggers: block to listen for', 'triggers');
  const dispatch = createDispatch({ client: options.client, taskQueue: config.temporal.task_queue, triggers, log: options.log });
  const pollers = Object.entries(triggers.sources).flatMap(([name, source]) =>
    source.type === 'sqs' ? [startSqsSource(name, source, dispatch, options.log)] : [],
  );
  const needsHttp = Object.values(triggers.sources).some((s) => s.type !== 'sqs');
  const http = needsHttp
    ? await startHttpListener(triggers, dispatch, { log: options.log, ready: () => pollers.every((p) => p.ready()) })
    : null;
  return {
    address: http?.address ?? null,
    async stop() {
      await Promise.all([http?.close(), ...pollers.map((p) => p.stop())]);
    },
  };
}
