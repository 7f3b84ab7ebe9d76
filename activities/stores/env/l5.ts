// The L5 spec's `provider: env` in rotator's form: the env store's own spelling.
import type { L5Mapping, L5Spelling } from '../../plugin';

const isMapping = (v: unknown): v is L5Mapping => !!v && typeof v === 'object' && !Array.isArray(v);
/** A field of a secret's value, as `secret://name/<field>` names it. */
const FIELD = /^[A-Za-z0-9_.-]+$/;
/** What an environment variable may be called (POSIX). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `provider: env` with `variable: NAME` (path NAME: the variable's JSON object, or its text as `value`),
 * `variables: { field: NAME }` (path `field=NAME,…`: one variable per field) and `default:` (the value when the
 * variable is unset: a provider of type env with `defaults:`, since a path must not carry a value; the plugin
 * declares `defaults.*` secret, so the loader scrubs it).
 */
export const l5: L5Spelling = {
  provider: 'env',
  translate(s, ctx) {
    const { written } = ctx;
    if (!('variable' in s || 'variables' in s || 'default' in s)) return s;
    const { variable, variables, default: fallbackValue, ...rest } = s;
    let path: unknown;
    if (variable !== undefined && variables !== undefined) ctx.issue(written('variables'), 'set variable or variables, not both');
    if (variable !== undefined) {
      if (typeof variable !== 'string' || !ENV_NAME.test(variable))
        ctx.issue(
          written('variable'),
          'expected the name of an environment variable (letters, digits and _, not starting with a digit)',
        );
      path = variable;
    } else if (variables !== undefined) {
      if (!isMapping(variables) || Object.keys(variables).length === 0)
        ctx.issue(written('variables'), 'expected a mapping of fields to environment variable names');
      else {
        for (const [field, v] of Object.entries(variables)) {
          if (!FIELD.test(field)) ctx.issue(`${written('variables')}.${field}`, 'expected a field name (letters, digits, _ . -)');
          else if (typeof v !== 'string' || !ENV_NAME.test(v))
            ctx.issue(`${written('variables')}.${field}`, 'expected the name of an environment variable');
        }
        path = Object.entries(variables)
          .map(([field, v]) => `${field}=${String(v)}`)
          .join(',');
      }
    }
    const out = ctx.location(rest, variables !== undefined ? 'variables' : 'variable', path);
    if (fallbackValue === undefined) {
      if (ctx.declared('env') !== undefined) ctx.sameType();
      return { ...out, provider: 'env' };
    }
    if (variable === undefined || typeof fallbackValue === 'object') {
      ctx.issue(
        written('default'),
        variable === undefined ? 'goes with variable: (one variable), not variables:' : 'expected text, a number or true/false',
      );
      return { ...out, provider: 'env' };
    }
    const varName = String(variable);
    const provider = ctx.provider(
      { defaults: { [varName]: String(fallbackValue) } },
      { [`defaults.${varName}`]: written('default') },
    );
    return { ...out, provider };
  },
};
