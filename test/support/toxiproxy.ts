// Toxiproxy (scripts/build-toxiproxy.sh) for the fault matrix: its server started for one test file on a free
// loopback port, driven through its HTTP API with fetch, and a worker's activity interceptor that turns a proxy's
// faults on while a named step runs (stepHooks of ./fault-injection.ts, where the kill harness kills the worker).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePorts } from '../../src/stack/service';

const ROOT = path.resolve(__dirname, '../..');
const HOST = '127.0.0.1';
export const TOXIPROXY_VERSION = 'v2.5.0';

export function toxiproxyPath(): string {
  const p = path.join(ROOT, '.tools', 'toxiproxy', TOXIPROXY_VERSION, 'toxiproxy-server');
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run npm run bootstrap -- --services test-tools (builds it with Go)`);
  return p;
}

/** A toxic as toxiproxy's API takes it (https://github.com/Shopify/toxiproxy#toxics). */
export interface Toxic {
  type: 'latency' | 'reset_peer' | 'timeout' | 'slicer' | 'slow_close' | 'bandwidth' | 'limit_data';
  stream?: 'upstream' | 'downstream';
  attributes: Record<string, number>;
}

export interface Proxy {
  name: string;
  /** Where clients connect instead of the upstream. */
  host: string;
  port: number;
  address: string;
  addToxic(name: string, toxic: Toxic): Promise<void>;
  removeToxic(name: string): Promise<void>;
  /** Disabled: every connection through it is closed and new ones are refused, as if the server were down. */
  setEnabled(enabled: boolean): Promise<void>;
  remove(): Promise<void>;
}

export interface Toxiproxy {
  api: string;
  proxy(name: string, upstream: { host: string; port: number }): Promise<Proxy>;
  stop(): Promise<void>;
}

async function call(api: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${api}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    // Generous: a loaded CI machine; the API itself answers in milliseconds.
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`toxiproxy ${method} ${route}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : null;
}

/** Starts toxiproxy-server on a free loopback port and waits until its API answers. */
export async function startToxiproxy(): Promise<Toxiproxy> {
  const [port] = await freePorts(1);
  const api = `http://${HOST}:${port}`;
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rotator-toxiproxy-')), 'toxiproxy.log');
  const fd = fs.openSync(log, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(toxiproxyPath(), ['-host', HOST, '-port', String(port)], { stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${api}/version`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`toxiproxy did not answer at ${api}: see ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100)); // polling a server that is starting
  }
  return {
    api,
    async proxy(name, upstream) {
      // Toxiproxy picks the free port for `:0` and then binds it again: on a busy machine another process may take it
      // in between ("bind: address already in use", seen in a whole matrix run); it is asked again.
      const create = () =>
        call(api, 'POST', '/proxies', {
          name,
          listen: `${HOST}:0`,
          upstream: `${upstream.host}:${upstream.port}`,
          enabled: true,
        }) as Promise<{ listen: string }>;
      let created: { listen: string } | undefined;
      for (let tries = 1; !created; tries++) {
        created = await create().catch((err: unknown) => {
          if (tries >= 3 || !String(err).includes('address already in use')) throw err;
          return undefined;
        });
      }
      const listenPort = Number(created.listen.split(':').pop());
      const route = `/proxies/${encodeURIComponent(name)}`;
      return {
        name,
        host: HOST,
        port: listenPort,
        address: `${HOST}:${listenPort}`,
        async addToxic(toxicName, toxic) {
          await call(api, 'POST', `${route}/toxics`, {
            name: toxicName,
            type: toxic.type,
            stream: toxic.stream ?? 'downstream',
            toxicity: 1,
            attributes: toxic.attributes,
          });
        },
        async removeToxic(toxicName) {
          await call(api, 'DELETE', `${route}/toxics/${encodeURIComponent(toxicName)}`).catch((err: unknown) => {
            if (!String(err).includes(' 404 ')) throw err;
          });
        },
        async setEnabled(enabled) {
          await call(api, 'POST', route, { enabled });
        },
        async remove() {
          await call(api, 'DELETE', route).catch(() => undefined);
        },
      };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await gone;
    },
  };
}
