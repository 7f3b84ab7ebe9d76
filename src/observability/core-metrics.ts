// The Temporal SDK's own metrics: Core serves them in Prometheus text on a loopback port of its own, which the
// worker's /metrics reads and appends, so one endpoint serves both. The port is chosen free per process, so two
// rotator processes on one host never share one.
import { get } from 'node:http';
import { createServer } from 'node:net';

const SCRAPE_TIMEOUT_MS = 5_000;

/** `127.0.0.1:<port>` of a port free now (the OS picks it; it is closed again for Core to bind). */
export async function reserveLoopbackAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

/** What Core's exporter serves at `address`, or a comment saying why there is nothing (a scrape never fails on it). */
export function coreMetricsText(address: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get(
      { host: address.split(':')[0], port: Number(address.split(':')[1]), path: '/metrics', timeout: SCRAPE_TIMEOUT_MS },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          resolve(`# temporal sdk metrics unavailable (HTTP ${res.statusCode})\n`);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', () => resolve('# temporal sdk metrics unavailable (read failed)\n'));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`# temporal sdk metrics unavailable (${err.code ?? err.message})\n`));
  });
}
