// `--metrics-address`: one HTTP server answering GET /metrics for Prometheus (node:http; nothing else is served).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RotatorError } from '../kernel/errors';
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
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    res.setHeader('Cache-Control', 'no-store');
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    source.scrape().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': source.contentType }).end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error({ error: err instanceof Error ? err.message : String(err) }, 'metrics scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new RotatorError('CONFIG_INVALID', cannotListen(address, err), field)),
    );
    server.listen(port, host, () => resolve());
  });
  server.on('error', (err: NodeJS.ErrnoException) => log.error({ error: err.code ?? err.name }, 'metrics server error'));
  const bound = server.address() as AddressInfo;
  log.info({ address: `${bound.address}:${bound.port}` }, 'serving metrics on /metrics');
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
