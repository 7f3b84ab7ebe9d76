// A real HTTP server between rotator and the example API-key service's hook, which misbehaves on request: answers
// 503, loses the answer after the service acted, hangs, answers too much, unsigned, off-protocol, or echoes the
// request. Each fault applies to the next request of an action (or of any action) and is then used up.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerSignature } from '../../activities/targets/http/hook';

export type HookFault =
  | 'status-503'
  | 'lose-answer' // forwards, the service acts, then the connection is cut before any answer
  | 'hang'
  | 'oversize'
  | 'unsigned'
  | 'off-protocol' // a signed 200 whose body misses the fields the action answers with
  | 'echo-500'; // a signed 500 whose `error` quotes the request's `secret` (and the start of its body)

export interface HookProxy {
  url: string;
  /** The next request of `action` (or of any action: '*') meets `fault`. */
  inject(action: string, fault: HookFault): void;
  /** Requests that reached the proxy, by action (every attempt counts). */
  readonly seen: Record<string, number>;
  close(): Promise<void>;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startHookProxy(upstream: string, signingKey: string): Promise<HookProxy> {
  const faults: Array<{ action: string; fault: HookFault }> = [];
  const seen: Record<string, number> = {};
  const hanging = new Set<import('node:http').ServerResponse>();

  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'idempotency-key', 'x-rotator-action', 'x-rotator-timestamp', 'x-rotator-signature'])
        if (req.headers[h]) headers[h] = String(req.headers[h]);
      const out = httpRequest(upstream, { method: 'POST', headers }, (res) => {
        readAll(res).then(
          (b) =>
            resolve({
              status: res.statusCode ?? 0,
              headers: Object.fromEntries(
                Object.entries(res.headers).flatMap(([k, v]) =>
                  k === 'content-type' || k === 'x-rotator-signature' ? [[k, String(v)]] : [],
                ),
              ),
              body: b,
            }),
          reject,
        );
      });
      out.on('error', reject);
      out.end(body);
    });

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        // not JSON: forwarded as it is
      }
      const action = String(parsed.action ?? '?');
      seen[action] = (seen[action] ?? 0) + 1;
      const i = faults.findIndex((f) => f.action === action || f.action === '*');
      const fault = i >= 0 ? faults.splice(i, 1)[0]!.fault : null;
      const signed = String(req.headers['x-rotator-signature'] ?? '');
      const answer = (status: number, text: string, sign = true) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (sign) headers['x-rotator-signature'] = answerSignature(signingKey, signed, text);
        res.writeHead(status, headers).end(text);
      };
      switch (fault) {
        case 'status-503':
          return answer(503, JSON.stringify({ error: 'try again later' }));
        case 'hang':
          hanging.add(res);
          return;
        case 'oversize':
          return answer(200, JSON.stringify({ pad: 'x'.repeat(200 * 1024) }));
        case 'off-protocol':
          return answer(200, JSON.stringify({ unexpected: true }));
        case 'echo-500':
          return answer(500, JSON.stringify({ error: `bad key ${parsed.secret as string}; in ${body.toString('utf8')}` }));
        default:
          break;
      }
      const upstreamAnswer = await forward(req, body);
      if (fault === 'lose-answer') {
        req.socket.destroy();
        return;
      }
      const headers = { ...upstreamAnswer.headers };
      if (fault === 'unsigned') delete headers['x-rotator-signature'];
      res.writeHead(upstreamAnswer.status, headers).end(upstreamAnswer.body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/rotator`,
    inject: (action, fault) => faults.push({ action, fault }),
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
