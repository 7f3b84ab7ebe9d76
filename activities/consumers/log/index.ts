// The `log` consumer plugin: one structured line per rotation, for consumers that watch logs (and for trying it out).
import { z } from 'zod';
import type { ConsumerPlugin } from '../../plugin';

export const schema = z
  .object({
    type: z.literal('log'),
    /** The message the line carries, so a log-based alert can match it. */
    message: z.string().min(1).default('credential rotated'),
  })
  .strict();

export const log = {
  schema,
  async create(config) {
    const { logger } = await import('../../../src/kernel/log');
    return {
      async notify(event) {
        // References only: the secret's name, the version to read and the login; never a value.
        logger.info({ secret: event.secret, version: event.version, username: event.username }, config.message);
      },
    };
  },
} satisfies ConsumerPlugin<z.infer<typeof schema>>;
