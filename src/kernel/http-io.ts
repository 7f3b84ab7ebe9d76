// HTTP helpers shared by rotator's servers (the listener's webhooks, the codec server): a bounded body reader, the
// JSON content-type check, and one way to answer, never an echo of the request.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Reply {
  status: number;
  /** An object is sent as JSON, a string as text. */
  body: object | string;
  headers?: Record<string, string>;
}

/** Whether the sender announced a body (a body left unread makes the reply close the connection). */
export function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/** `application/json`, with a UTF-8 charset if any. */
export function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const [type, ...params] = contentType.split(';');
  if (type.trim().toLowerCase() !== 'application/json') return false;
  return params.every((param) => {
    const [key, value = ''] = param.split('=');
    return key.trim().toLowerCase() !== 'charset' || /^"?utf-8"?$/i.test(value.trim());
  });
}

/** The body, or why there is none; reading stops at the first byte past `limit` and nothing more is kept. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: Buffer | 'too large' | 'aborted') => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        chunks.length = 0;
        done('too large');
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => done(Buffer.concat(chunks, size));
    const onAbort = () => done('aborted');
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

/** Answers and, when the body was not read, closes the connection so what the sender still sends is not read. */
export function send(req: IncomingMessage, res: ServerResponse, reply: Reply, closeConnection: boolean): void {
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  res.statusCode = reply.status;
  if (reply.status !== 204) {
    res.setHeader('Content-Type', typeof reply.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(text));
  }
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  for (const [key, value] of Object.entries(reply.headers ?? {})) res.setHeader(key, value);
  if (closeConnection) {
    res.setHeader('Connection', 'close');
    res.once('finish', () => req.destroy());
  }
  res.end(reply.status === 204 ? undefined : text);
}
