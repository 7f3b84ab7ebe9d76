// The one structured logger. Secret-shaped fields are censored at the edge, whatever a caller passes.
import pino from 'pino';

export const REDACT_PATHS = ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'value', '*.value'];

export const logger = pino({
  level: process.env.ROTATOR_LOG_LEVEL ?? 'info',
  base: { service: 'rotator' },
  redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
});

export type Logger = typeof logger;
