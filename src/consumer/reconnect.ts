// The reconnect signal: rotator's webhook consumer POSTs a signed event when a rotation publishes; this checks it.
//
// Order (src/listener/http-sources.ts does the same for `rotator listen`): the signature headers must be there, the
// body is read (at most MAX_BODY_BYTES), the HMAC over "<X-Rotator-Timestamp>.<raw body>" must match in constant
// time, the timestamp must be within the tolerance, and only then is the body parsed. Every authentication failure
// gets the same 401, so a sender cannot tell a forged signature from a stale one.
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { signatureMatches } from '../../activities/consumers/webhook/public';
import { PRINTABLE } from '../kernel/printable';

export const MAX_BODY_BYTES = 64 * 1024;

/** Names and ids may reach a log line: no control, format (bidi) or line-separator characters. */
const printable = (max: number) =>
  z.string().min(1).max(max).regex(PRINTABLE, { message: 'control, format and line-separator characters are not allowed' });

/** rotator's event (activities/consumers/webhook/index.ts); other fields (login, rotation_id, time) are dropped. */
const ReconnectBody = z.object({
  id: printable(256),
  type: printable(256),
  secret: printable(256),
  version: printable(256).optional(),
});
export type ReconnectEvent = z.infer<typeof ReconnectBody>;

export type Verdict =
  { ok: true; event: ReconnectEvent } | { ok: false; status: 400 | 401 | 405 | 413; reason: string; message: string };

const UNAUTHORIZED = 'missing or invalid signature';
const refuse = (reason: string): Verdict => ({ ok: false, status: 401, reason, message: UNAUTHORIZED });
const invalid = (message: string): Verdict => ({ ok: false, status: 400, reason: 'invalid body', message });

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Where the signing key comes from: held a while, read again only when allowed (see SecretClient.reconnectHandler). */
export interface SigningKeys {
  /** The key held now (read first if none is held or the one held is past its hold time). */
  current(): Promise<string>;
  /**
   * After `current` did not match: the key read again (a rotated key is picked up), or null when it was read too
   * recently for a refused signature to make it read again.
   */
  reread(): Promise<string | null>;
}

export interface VerifyOptions {
  keys: SigningKeys;
  now: () => number;
  toleranceMs: number;
}

/** Authenticates a delivery, then parses it. Nothing of the body is looked at before the signature matched. */
export async function verifyReconnect(req: IncomingMessage, options: VerifyOptions): Promise<Verdict> {
  if (req.method !== 'POST') return { ok: false, status: 405, reason: 'not a POST', message: 'expected POST' };
  const ts = header(req, 'x-rotator-timestamp');
  const sig = header(req, 'x-rotator-signature');
  if (ts === undefined || sig === undefined) return refuse('unsigned');
  if (!/^\d{1,12}$/.test(ts)) return refuse('malformed timestamp');
  const body = await readBody(req);
  if (body === null) return { ok: false, status: 413, reason: 'body too large', message: `at most ${MAX_BODY_BYTES} bytes` };
  const held = await options.keys.current();
  if (!signatureMatches(held, ts, body, sig)) {
    const again = await options.keys.reread();
    if (again === null || again === held || !signatureMatches(again, ts, body, sig)) return refuse('bad signature');
  }
  if (Math.abs(options.now() - Number(ts) * 1000) > options.toleranceMs) return refuse('stale timestamp');
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return invalid('the body is not valid JSON');
  }
  const parsed = ReconnectBody.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return invalid(`${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const id = header(req, 'x-rotator-event-id');
  if (id !== undefined && id !== parsed.data.id) return invalid('id: does not match X-Rotator-Event-Id');
  return { ok: true, event: parsed.data };
}
