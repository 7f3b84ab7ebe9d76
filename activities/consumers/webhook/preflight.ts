// `rotator plan` for a webhook (or alert) consumer: its signing key can be read, and its receiver accepts a TCP
// connection. No request is sent: an HTTP request, even HEAD, could be taken for an event by a careless receiver.
import { connect } from 'node:net';
import { parseDuration } from '../../../src/kernel/duration';
import { RotatorError } from '../../../src/kernel/errors';
import type { ConsumerContext, PreflightCheck } from '../../plugin';
import type { SecretReference } from '../../../src/kernel/plan';
import type { WebhookConfig } from './index';

/** `failIs: 'warn'` for an alert, whose failure only logs and never stops a rotation. */
export async function preflight(
  config: WebhookConfig,
  context: ConsumerContext,
  failIs: 'fail' | 'warn' = 'fail',
): Promise<PreflightCheck[]> {
  // The origin only: some receivers carry a token in the URL's path.
  const url = new URL(config.url);
  const origin = url.origin;
  const checks: PreflightCheck[] = [];
  const key = config.signing_key;
  if (typeof key === 'object') {
    const where = `${key.provider}:${key.path}#${key.key}`;
    const check = `${config.type} ${origin}: signing key readable`;
    try {
      await context.readSecret(key as SecretReference);
      checks.push({ check, status: 'ok', detail: `${where} is there` });
    } catch (err) {
      const message = err instanceof RotatorError ? err.message : String(err);
      checks.push({ check, status: failIs, detail: message, fix: `write the signing key to ${where}` });
    }
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const check = `${config.type} ${origin}: receiver reachable`;
  try {
    await tcpConnect(host, port, parseDuration(config.timeout));
    checks.push({ check, status: 'ok', detail: `${host}:${port} accepts connections (no request sent)` });
  } catch (err) {
    checks.push({
      check,
      status: failIs,
      detail: `cannot connect to ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      fix: 'start the receiver, or correct the url',
    });
  }
  return checks;
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => {
      socket.end();
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}
