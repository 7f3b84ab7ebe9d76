// A SOPS-encrypted file in a real git repository for the sops store's tests: an age identity (age-keygen from
// Debian's age), a bare repository on disk as the remote, and a first commit of the file encrypted by the real sops.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { parse as parseYaml } from 'yaml';

const ROOT = nodePath.resolve(__dirname, '../..');
export const SOPS_VERSION = 'v3.13.3';
/** The sops scripts/build-sops.sh builds (bootstrap links it here). */
export const SOPS_BIN = nodePath.join(ROOT, '.tools', 'sops', SOPS_VERSION, 'sops');

export interface SopsRepo {
  dir: string;
  /** The bare repository (the store's remote). */
  remote: string;
  /** The file's path inside the repository. */
  file: string;
  branch: string;
  /** The private age identity, as SOPS_AGE_KEY_FILE. */
  keyFile: string;
  recipient: string;
  /** The provider block for a rotator config, indented under its name. */
  providerYaml: string[];
  /** `sops -d` of the file as committed at the tip of the remote's branch: the text and the document. */
  decrypted(): { text: string; doc: Record<string, unknown> };
  /** The remote branch's commits, newest first: id and full message. */
  commits(): Array<{ commit: string; message: string }>;
  head(): string;
  /** Everything the remote holds, every ref: each commit's message and patch (what a leak would show up in). */
  everything(): string;
  /** The remote's refs under refs/rotator/ (pending values). */
  pendingRefs(): string[];
  /** Another clone pushes a commit that changes `key` (top level) to `value`: a concurrent push. */
  pushConcurrently(key: string, value: string): string;
  cleanup(): void;
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'tester',
  GIT_AUTHOR_EMAIL: 'tester@localhost',
  GIT_COMMITTER_NAME: 'tester',
  GIT_COMMITTER_EMAIL: 'tester@localhost',
  GIT_CONFIG_NOSYSTEM: '1',
};

export function makeSopsRepo(plain: string, options: { file?: string } = {}): SopsRepo {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'rotator-sops-repo-'));
  const file = options.file ?? 'secrets/app.enc.yaml';
  const branch = 'main';
  const keyFile = nodePath.join(dir, 'age.key');
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
  const recipient = execFileSync('age-keygen', ['-y', keyFile], { encoding: 'utf8' }).trim();
  const env = { ...process.env, ...GIT_ENV, SOPS_AGE_KEY_FILE: keyFile };
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'commit.gpgsign=false', ...args], { cwd, env, encoding: 'utf8', stdio: 'pipe' });
  const sops = (cwd: string, ...args: string[]) => execFileSync(SOPS_BIN, args, { cwd, env, encoding: 'utf8' });

  const remote = nodePath.join(dir, 'remote.git');
  git(dir, 'init', '--quiet', '--bare', '--initial-branch', branch, remote);
  const seed = nodePath.join(dir, 'seed');
  git(dir, 'clone', '--quiet', remote, seed);
  git(seed, 'checkout', '--quiet', '-b', branch);
  fs.mkdirSync(nodePath.dirname(nodePath.join(seed, file)), { recursive: true });
  const format = file.endsWith('.json') ? 'json' : 'yaml';
  const plainFile = nodePath.join(dir, `plain.${format}`);
  fs.writeFileSync(plainFile, plain);
  fs.writeFileSync(
    nodePath.join(seed, file),
    sops(seed, 'encrypt', '--age', recipient, '--input-type', format, '--output-type', format, plainFile),
  );
  fs.rmSync(plainFile);
  git(seed, 'add', file);
  git(seed, 'commit', '--quiet', '-m', 'The app secrets, encrypted with sops');
  git(seed, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);

  const decrypted = () => {
    const encrypted = git(remote, 'show', `${branch}:${file}`);
    const tmp = nodePath.join(dir, `head.${format}`);
    fs.writeFileSync(tmp, encrypted);
    const text = sops(dir, 'decrypt', '--input-type', format, '--output-type', format, tmp);
    fs.rmSync(tmp);
    return { text, doc: parseYaml(text) as Record<string, unknown> };
  };

  return {
    dir,
    remote,
    file,
    branch,
    keyFile,
    recipient,
    providerYaml: [
      '    type: sops',
      `    remote: ${remote}`,
      `    branch: ${branch}`,
      `    file: ${file}`,
      `    age_key_file: ${keyFile}`,
      `    sops: ${SOPS_BIN}`,
    ],
    decrypted,
    commits: () =>
      git(remote, 'log', '--format=%H%x1f%B%x1e', branch)
        .split('\x1e')
        .map((r) => r.trim())
        .filter(Boolean)
        .map((r) => {
          const [commit, message] = r.split('\x1f');
          return { commit, message };
        }),
    head: () => git(remote, 'rev-parse', branch).trim(),
    pendingRefs: () => git(remote, 'for-each-ref', '--format=%(refname)', 'refs/rotator/').split('\n').filter(Boolean),
    everything: () => git(remote, 'log', '--all', '-p', '--format=%H%n%B'),
    pushConcurrently(key, value) {
      const other = nodePath.join(dir, `other-${Date.now()}-${Math.random().toString(16).slice(2)}`);
      git(dir, 'clone', '--quiet', '--branch', branch, remote, other);
      execFileSync(SOPS_BIN, ['set', '--value-stdin', file, `[${JSON.stringify(key)}]`], {
        cwd: other,
        env,
        input: JSON.stringify(value),
      });
      git(other, 'commit', '--quiet', '-am', `A person changes ${key}`);
      git(other, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
      const commit = git(other, 'rev-parse', 'HEAD').trim();
      fs.rmSync(other, { recursive: true, force: true });
      return commit;
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
