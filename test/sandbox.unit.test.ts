// Workflow code runs in Temporal's sandbox, where Node's modules and globals (Buffer, process) are not there.
// The SDK's bundler refuses Node's built-in modules, but not a module that merely uses Buffer: this check does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../workers/worker';
import { silentLogger } from './support/rotator-config';

const ROOT = path.resolve(__dirname, '..');

/** Project modules workflows may import: the workflows themselves and the sandbox-safe part of the kernel. */
const SANDBOX_SAFE = [/^workflows\//, /^src\/kernel\/(errors|printable|window|workloads)\.ts$/];
/** What Node-only code looks like in source: a Node global, a Node module, or the file system's idea of a path. */
const NODE_ONLY = /\bBuffer\b|\bprocess\.|\brequire\(|from 'node:|\b__dirname\b|\bsetImmediate\b/;

/** Every project module (not a package) in a workflow bundle. */
function projectModules(code: string): string[] {
  const ids = [...code.matchAll(/"\.\/([^"]+?\.ts)"/g)].map((m) => m[1]).filter((id) => !id.includes('node_modules/'));
  return [...new Set(ids)].sort();
}

/** Why a bundle would break in the sandbox: modules outside the safe list, or safe-listed ones with Node-only code. */
function violations(code: string): string[] {
  const found: string[] = [];
  for (const id of projectModules(code)) {
    if (!SANDBOX_SAFE.some((re) => re.test(id))) found.push(`${id} is not sandbox-safe`);
    else if (NODE_ONLY.test(fs.readFileSync(path.join(ROOT, id), 'utf8'))) found.push(`${id} uses Node-only code`);
  }
  return found;
}

describe('workflow code in the sandbox', () => {
  it('bundles only workflow modules and the sandbox-safe kernel, none using Node-only code', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger });
    expect(projectModules(code)).toContain('workflows/rotate-secret.ts');
    expect(violations(code)).toEqual([]);
  });

  it('catches a workflow that imports a module with Node-only code', async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('./sandbox/node-only-workflow'),
      logger: silentLogger,
    });
    expect(violations(code)).toEqual(expect.arrayContaining(['src/kernel/redact.ts is not sandbox-safe']));
  });
});
