// The L5 spec's `provider: kubernetes` in rotator's form: the kubernetes store's own spelling.
import { z } from 'zod';
import type { L5Mapping, L5Spelling } from '../../plugin';

const isMapping = (v: unknown): v is L5Mapping => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * `provider: kubernetes` with `namespace` and `secret_name` → path `<namespace>/<secret_name>` in the provider
 * named kubernetes (declared, or one made with the worker's kubeconfig or service account). `service_account` is
 * the reader's identity (read:); rotator does not act as it.
 */
export const l5: L5Spelling = {
  provider: 'kubernetes',
  read: {
    fields: {
      /** The reader's identity; rotator uses its own kubeconfig or service account. */
      service_account: z
        .string()
        .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, { message: 'expected a Kubernetes service account name' })
        .optional(),
    },
  },
  translate(s, ctx) {
    const { at, written } = ctx;
    if (!('secret_name' in s || 'namespace' in s || 'service_account' in s)) return s;
    const { secret_name, namespace, service_account, ...rest } = s;
    if (namespace !== undefined && typeof namespace !== 'string') ctx.issue(written('namespace'), 'expected a namespace name');
    const path = typeof secret_name === 'string' && typeof namespace === 'string' ? `${namespace}/${secret_name}` : secret_name;
    let out = ctx.location(rest, 'secret_name', path);
    if (service_account !== undefined) {
      out = { ...out, read: { ...(isMapping(out.read) ? out.read : {}), service_account } };
      ctx.reportAt(`${at}.read.service_account`, written('service_account'));
    }
    if (ctx.declared('kubernetes') !== undefined) ctx.sameType();
    else ctx.synthesize('kubernetes', { type: 'kubernetes' });
    return { ...out, provider: 'kubernetes' };
  },
};
