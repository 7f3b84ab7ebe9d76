// The L5 spec's Azure Key Vault and GCP Secret Manager secrets: a connection field and `auth:` become the provider,
// the store's word for the secret's name becomes `path`. Each plugin gives its own spec schema (its auth: included).
import { z } from 'zod';
import type { L5Mapping, L5Spelling } from '../plugin';

const isMapping = (v: unknown): v is L5Mapping => !!v && typeof v === 'object' && !Array.isArray(v);

/** A value checked for its form only when it is written out: `${VAR}` is checked where it is used, after interpolation. */
export const literal = (re: RegExp, message: string) => z.string().refine((v) => v.includes('${') || re.test(v), { message });

/** `version`: latest, a version id or a version number (a reader's; both stores share this schema under `read:`). */
const READ_VERSION = z
  .union([z.string().min(1), z.number()])
  .transform(String)
  .optional();

/**
 * `location` → path; `connection` and `auth` → a provider of the plugin's type; `version` is the reader's (read:),
 * since rotator reads and publishes the latest. Left out when the spec's fields are malformed.
 */
export function cloudL5(
  provider: string,
  schema: z.ZodType<{ auth?: unknown }>,
  location: string,
  connection: string,
): L5Spelling {
  return {
    provider,
    read: { fields: { version: READ_VERSION } },
    translate(s, ctx) {
      const { at, written } = ctx;
      // Other fields stay on the secret, for its schema to check (and name, when unknown).
      const parsed = ctx.checkWritten(schema, s);
      if (parsed === undefined) return undefined;
      const { [location]: id, [connection]: where, version, auth: _, ...rest } = s;
      let out = ctx.location(rest, location, id);
      if (version !== undefined) {
        out = { ...out, read: { ...(isMapping(out.read) ? out.read : {}), version } };
        ctx.reportAt(`${at}.read.version`, written('version'));
      }
      // The plugin's auth schema with its defaults applied (auth.type), so the provider block is the one the spec means.
      const name = ctx.provider(
        { [connection]: where, auth: parsed.auth },
        { [connection]: written(connection), auth: written('auth') },
      );
      return { ...out, provider: name };
    },
  };
}
