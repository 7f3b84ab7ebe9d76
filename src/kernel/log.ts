// The one structured logger. Secret-shaped fields are censored at the edge, whatever a caller passes.
import pino from 'pino';

// `secret` is not here: log lines name secrets (`secret: 'orders_db'`), and a name is not a value.
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'value',
  '*.value',
  'secret_access_key',
  '*.secret_access_key',
];

export function createLogger(destination?: pino.DestinationStream): pino.Logger {
  const options = {
    level: process.env.ROTATOR_LOG_LEVEL ?? 'info',
    base: { service: 'rotator' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

export const logger = createLogger();

export type Logger = typeof logger;
