// `--metrics-address`: one HTTP server answering GET /metrics for Prometheus (fastify; nothing else is served).
import { RotatorError } from '../kernel/errors';
import { createHttpApp, getOnly, listen } from '../kernel/http-server';
import type { Logger } from '../kernel/log';

export interface MetricsSource {
  scrape(): Promise<string>;
  contentType: string;
}

export interface MetricsServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces); port 0 picks a free one. */
export function parseListenAddress(text: string, field = '--metrics-address'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new RotatorError('CONFIG_INVALID', `expected host:port (e.g. 127.0.0.1:9464), got "${text}"`, field);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Why `address` cannot be listened on, in words, with the system's code. */
function cannotListen(address: string, err: NodeJS.ErrnoException): string {
  const why: Record<string, string> = {
    EADDRINUSE: 'the address is already in use (another process listens there); choose another port or stop that process',
    EACCES: 'permission denied (ports below 1024 need privileges)',
    EADDRNOTAVAIL: 'no interface of this host has that address',
  };
  const code = err.code ?? err.name;
  return `cannot serve metrics on ${address}: ${why[code] ?? err.message} (${code})`;
}

export async function serveMetrics(
  address: string,
  source: MetricsSource,
  log: Logger,
  field = '--metrics-address',
): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(address, field);
  // Nothing is read from a request: no body parser, and the smallest limit.
  const app = createHttpApp({ bodyLimit: 1 });
  app.route({
    method: ['GET', 'HEAD'],
    url: '/metrics',
    handler: async (request, reply) => {
      let text: string;
      try {
        text = await source.scrape();
      } catch (err) {
        log.error({ error: err instanceof Error ? err.message : String(err) }, 'metrics scrape failed');
        return reply.code(500).send('scrape failed\n');
      }
      return reply.type(source.contentType).send(request.method === 'HEAD' ? '' : text);
    },
  });
  getOnly(app, '/metrics');
  app.setNotFoundHandler(async (_request, reply) => reply.code(404).send('not found\n'));
  const bound = await listen(app, host, port, (err) => new RotatorError('CONFIG_INVALID', cannotListen(address, err), field));
  app.server.on('error', (err: NodeJS.ErrnoException) => log.error({ error: err.code ?? err.name }, 'metrics server error'));
  log.info({ address: `${bound.host}:${bound.port}` }, 'serving metrics on /metrics');
  return { address: bound, close: () => app.close() };
}
