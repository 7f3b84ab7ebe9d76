// A POST that announces no body at all (no Content-Length, no Transfer-Encoding), written on a raw socket: Node's
// http client and fetch always add one of them. Answers the status and the body of the server's response.
import { connect } from 'node:net';

export function bodilessPost(
  address: { host: string; port: number },
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(address.port, address.host);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    const lines = [`POST ${path} HTTP/1.1`, `Host: ${address.host}:${address.port}`, 'Connection: close'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    // Not half-closed: Node's server would abort a request whose sender ended its side (Connection: close ends it).
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}
