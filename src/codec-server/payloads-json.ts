// The remote codec protocol's body: Temporal `Payloads` in protobuf JSON ({"payloads":[{metadata:{k:b64},data:b64}]}).
import type { Payload } from '@temporalio/common';
import { z } from 'zod';

// Proto3 JSON accepts standard and URL-safe base64, padded or not; anything else is refused rather than skipped
// (Buffer.from(s, 'base64') would silently drop junk and hand the codec different bytes than were sent).
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;
const bytes = z.string({ error: 'expected a base64 string' }).regex(BASE64, { error: 'expected a base64 string' });

const payloadSchema = z.object(
  {
    metadata: z.record(z.string(), bytes, { error: 'expected an object of base64 strings' }).optional(),
    data: bytes.optional(),
  },
  { error: 'expected a payload object' },
);

/** The request body, at most `maxPayloads` payloads; validated by the codec server's route (the zod type provider). */
export function payloadsSchema(maxPayloads: number) {
  return z.object(
    {
      payloads: z
        .array(payloadSchema, { error: 'expected an array of payloads' })
        .max(maxPayloads, { error: `at most ${maxPayloads} payloads per request` }),
    },
    { error: 'expected an object with a payloads array' },
  );
}

export type PayloadsBody = z.infer<ReturnType<typeof payloadsSchema>>;

const toBytes = (b64: string): Uint8Array => Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
const toBase64 = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('base64');

/** The validated body as payloads. */
export function toPayloads(body: PayloadsBody): Payload[] {
  return body.payloads.map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, toBytes(v)])),
    data: toBytes(p.data ?? ''),
  }));
}

/** The response body for `payloads`, in the same protobuf JSON shape. */
export function payloadsBody(payloads: ReadonlyArray<Payload>): PayloadsBody {
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, toBase64(v)])),
      data: toBase64(p.data),
    })),
  };
}
