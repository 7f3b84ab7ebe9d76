// The L5 spec's `provider: vault` in rotator's form: the vault store's own spelling, asked for by src/config/l5.ts.
import type { L5Mapping, L5Spelling } from '../../plugin';

const isMapping = (v: unknown): v is L5Mapping => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * `provider: vault` with `vault: { address, namespace }` (Enterprise namespace), `auth: { method, … }` (how the
 * worker gets its token: `token` is one given to it, from `auth.token` or ${VAULT_TOKEN}; approle, kubernetes
 * and aws are validated by the vault plugin and refused when the store starts, until login is implemented) and
 * `renewal:` (the provider's renewal of that token). Without any of the three, the secret names the provider
 * `vault` (declared, or the built-in one from VAULT_ADDR/VAULT_TOKEN), as in rotator's form.
 */
export const l5: L5Spelling = {
  provider: 'vault',
  translate(s, ctx) {
    const { written } = ctx;
    if (!('vault' in s || 'auth' in s || 'renewal' in s)) return s;
    const { vault: connection = {}, auth, renewal, ...rest } = s;
    if (!isMapping(connection)) {
      ctx.issue(written('vault'), 'expected a mapping: { address, namespace }');
      return rest;
    }
    const extra = Object.keys(connection).filter((k) => k !== 'address' && k !== 'namespace');
    if (extra.length > 0) ctx.issue(written('vault'), `unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')}`);
    if (auth !== undefined && !isMapping(auth)) {
      ctx.issue(written('auth'), 'expected a mapping: { method, … }');
      return rest;
    }
    const { token, ...login } = auth ?? {};
    const method = login.method ?? 'token';
    const onlyToken = Object.keys(login).every((k) => k === 'method') && method === 'token';
    const provider = ctx.provider(
      {
        address: connection.address ?? '${VAULT_ADDR:-http://127.0.0.1:8200}',
        namespace: connection.namespace,
        token: token ?? (method === 'token' ? '${VAULT_TOKEN}' : undefined),
        // Token auth is what a provider without auth: does, so the block is the same as rotator's own form then.
        auth: auth === undefined || onlyToken ? undefined : login,
        renewal,
      },
      {
        address: `${written('vault')}.address`,
        namespace: `${written('vault')}.namespace`,
        token: `${written('auth')}.token`,
        auth: written('auth'),
        renewal: written('renewal'),
      },
    );
    // A dynamic secret without publish: is leased by its readers (the reader library, src/reader/lease.ts): it stays
    // in the config as written, and the schema says rotator's worker does not keep it.
    return { ...rest, provider };
  },
};
