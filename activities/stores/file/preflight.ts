// `rotator plan` for the file store: the folder that would hold the secret (or its nearest existing parent) can be written.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { z } from 'zod';
import type { PreflightCheck } from '../../plugin';
import type { schema } from './index';

type FileProvider = z.infer<typeof schema>;

export async function preflight(config: FileProvider, path: string): Promise<PreflightCheck[]> {
  const check = `store: may write ${path}`;
  const root = nodePath.resolve(config.dir);
  let dir = nodePath.join(root, ...path.replace(/^\/+|\/+$/g, '').split('/'));
  // A folder made on first write: what matters is that the nearest one that exists lets us make it.
  for (;;) {
    const found = await stat(dir).catch(() => null);
    if (found?.isDirectory()) break;
    if (found) return [{ check, status: 'fail', detail: `${dir} is not a directory`, fix: `move ${dir} out of the way` }];
    const parent = nodePath.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  try {
    await access(dir, constants.W_OK | constants.X_OK);
    return [{ check, status: 'ok', detail: `${dir} is writable` }];
  } catch (err) {
    return [
      {
        check,
        status: 'fail',
        detail: `${dir} is not writable by this user: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        fix: `give the worker's user write access to ${dir}`,
      },
    ];
  }
}
