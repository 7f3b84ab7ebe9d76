// `rotator validate`'s warning for a secret written into the config file itself, where `${VAR}` (or a `secret://`
// reference) belongs: the file then holds a credential wherever it is copied, committed or printed. Names the field,
// never the value.
import { parseDocument } from 'yaml';
import { secretField } from './load';

/**
 * The whole value is `${VAR}` (or `${VAR:-}`): it comes from the environment. Text around it (`abc${X}`) or a non-empty
 * default (`${VAULT_TOKEN:-hvs.real}`) is written in the file, so it is a literal secret.
 */
const FROM_ENV = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-)?\}$/;
/** Fields named like secrets that hold where one is, or what it is called: a file, a name, a path, a key id. */
const NOT_A_VALUE = /_(file|name|path)$|(^|_)key_id$/;

/** The fields (as written, `providers.vault.token`) whose secret is written literally; [] for a file that does not parse. */
export function literalSecretFields(text: string): string[] {
  let raw: unknown;
  try {
    raw = parseDocument(text, { uniqueKeys: true }).toJS({ maxAliasCount: 100 });
  } catch {
    return []; // the load reports it
  }
  const out: string[] = [];
  const walk = (node: unknown, path: string[]): void => {
    if (typeof node === 'string') {
      const field = path.at(-1) ?? '';
      // The L5 spec's GCP `secrets.<name>.secret:` is the Secret Manager secret's id, not its value.
      const gcpSecretId = path.length === 3 && path[0] === 'secrets' && field === 'secret';
      if (
        node !== '' &&
        !node.startsWith('secret://') &&
        !FROM_ENV.test(node) &&
        secretField(path, raw) &&
        !NOT_A_VALUE.test(field) &&
        !gcpSecretId
      )
        out.push(path.join('.'));
    } else if (Array.isArray(node)) node.forEach((v, i) => walk(v, [...path, String(i)]));
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
  };
  walk(raw, []);
  return out;
}

/** The warning for one such field. */
export const LITERAL_SECRET_WARNING = 'holds a secret written into the config file; take it from the environment with ${VAR}';
