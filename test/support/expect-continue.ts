import { request as httpRequest } from 'node:http';

/**
 * A POST with `Expect: 100-continue` that sends its body only when invited: the status, and whether 100 Continue
 * came before it.
 */
export function expectContinue(url: string, path: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
    let continued = false;
    const req = httpRequest(new URL(path, url), {
      method: 'POST',
      headers: { ...headers, Expect: '100-continue', 'Content-Length': String(Buffer.byteLength(body)) },
    });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}
