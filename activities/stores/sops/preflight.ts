// `rotator plan` for the sops store: the branch can be fetched, the file decrypts with the worker's age identity, it
// names an age recipient (for pending values), and the remote accepts a push (a dry run). Nothing is written.
import { RotatorError } from '../../../src/kernel/errors';
import type { PreflightCheck } from '../../plugin';
import type { SopsConfig } from './index';
import { SopsStore } from './store';

const FIX: Partial<Record<string, string>> = {
  PERMISSION_DENIED: "put the worker's age identity at age_key_file (its recipient must be one of the file's: sops updatekeys)",
  NOT_FOUND: 'create the file with sops and push it to the branch first',
  CONFLICT: 're-encrypt the file with sops (it is not a valid SOPS file)',
  UNSUPPORTED: 'add an age recipient to the file (sops updatekeys with an age key in .sops.yaml)',
  TRANSIENT: "check the remote's address and the worker's git credentials (an SSH deploy key, a credential helper)",
  CONFIG_INVALID: 'fix the path or the provider block',
};

function failed(check: string, err: unknown): PreflightCheck {
  const code = err instanceof RotatorError ? err.code : 'TRANSIENT';
  const detail = err instanceof RotatorError ? err.message : 'failed (the cause is not shown)';
  return { check, status: 'fail', detail, ...(FIX[code] ? { fix: FIX[code] } : {}) };
}

export async function preflight(config: SopsConfig, path: string): Promise<PreflightCheck[]> {
  const store = new SopsStore({ ...config, stalePending: config.stale_pending });
  try {
    const checks: PreflightCheck[] = [];
    const read = `store: reads ${path} from ${config.file}`;
    try {
      const current = await store.readCurrent(path);
      checks.push({
        check: read,
        status: 'ok',
        detail: current ? `decrypts; ${path} is there at commit ${current.version}` : `decrypts; ${path} is not there yet`,
      });
    } catch (err) {
      return [failed(read, err)];
    }
    const write = `store: may push to ${config.branch}`;
    try {
      checks.push({ check: write, status: 'ok', detail: await store.canPush() });
    } catch (err) {
      checks.push(failed(write, err));
    }
    return checks;
  } finally {
    await store.close();
  }
}
