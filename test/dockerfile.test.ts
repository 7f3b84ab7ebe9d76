// The image without a Docker engine (none runs here or in CI): the Dockerfile and .dockerignore as written, the
// compiled dist/ they ship run with plain node (CLI, and a worker that bundles its workflows from dist/ and polls the
// stack's Temporal), and docker-compose.yml's rotator services built from that image.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../src/config/load';
import { REPO_ROOT } from '../src/stack/local-stack';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { testStack } from './support/stack';

const MAIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  body: Instruction[];
}

/** Dockerfile instructions by stage: comments and parser directives dropped, `\` continuations joined. */
function stages(text: string): { args: Instruction[]; stages: Stage[] } {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const out: Stage[] = [];
  const globalArgs: Instruction[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' ') };
    if (instruction.keyword === 'FROM') {
      const [, from, name] = /^(\S+)(?: AS (\S+))?$/i.exec(instruction.args)!;
      out.push({ name: name ?? String(out.length), from, body: [] });
    } else if (out.length === 0) globalArgs.push(instruction);
    else out[out.length - 1].body.push(instruction);
  }
  return { args: globalArgs, stages: out };
}

const dockerfile = () => stages(read('Dockerfile'));
const stage = (name: string) => dockerfile().stages.find((s) => s.name === name)!;
const of = (s: Stage, keyword: string) => s.body.filter((i) => i.keyword === keyword).map((i) => i.args);

/** Runs the compiled CLI with plain node; resolves with its exit code and output. */
function node(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

beforeAll(() => {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build (or npm run bootstrap)`);
});

describe('the Dockerfile', () => {
  it('builds in stages on the Node that .node-version pins, slim: compile with every dependency, install production ones apart', () => {
    const { args, stages: all } = dockerfile();
    // The image runs the same Node as the clone's tests, `engines` names its major.
    const pinned = read('.node-version').trim();
    expect(args).toEqual([{ keyword: 'ARG', args: `NODE_IMAGE=node:${pinned}-bookworm-slim` }]);
    expect((JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node).toBe(`>=${pinned.split('.')[0]}`);
    expect(all.map((s) => [s.name, s.from])).toEqual([
      ['build', '${NODE_IMAGE}'],
      ['deps', '${NODE_IMAGE}'],
      ['runtime', '${NODE_IMAGE}'],
    ]);
    expect(of(stage('build'), 'RUN')).toEqual(['npm ci --no-audit --no-fund', 'npm run build']);
    expect(of(stage('deps'), 'RUN')).toEqual(['npm ci --omit=dev --no-audit --no-fund && npm cache clean --force']);
    // tsconfig.build.json compiles these folders: the build stage must have each of them.
    const include = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;
    const copied = of(stage('build'), 'COPY').flatMap((a) => a.split(' ').slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(include));
    expect(read('package.json')).toContain('"build": "tsc -p tsconfig.build.json"');
  });

  it('ships only dist/, production node_modules and package.json, runs as a numeric non-root user, installs nothing at start', () => {
    const runtime = stage('runtime');
    expect(of(runtime, 'COPY')).toEqual([
      '--from=deps /app/node_modules ./node_modules',
      '--from=build /app/dist ./dist',
      'package.json ./',
    ]);
    expect(of(runtime, 'RUN').join('\n')).not.toMatch(/\b(npm|npx|yarn|pnpm|tsc|tsx)\b/);
    const users = of(runtime, 'USER');
    expect(users).toEqual(['10001:10001']);
    // The user is set after every step that needs root, and nothing after it changes that.
    const keywords = runtime.body.map((i) => i.keyword);
    expect(keywords.indexOf('USER')).toBeGreaterThan(keywords.lastIndexOf('RUN'));
    expect(keywords.indexOf('USER')).toBeGreaterThan(keywords.lastIndexOf('COPY'));
    expect(of(runtime, 'ENTRYPOINT').map((e) => JSON.parse(e) as string[])).toEqual([['node', '/app/dist/src/cli/main.js']]);
    expect(path.relative(REPO_ROOT, MAIN)).toBe('dist/src/cli/main.js');
  });

  it('has a .dockerignore that lets in only what the build copies (no keys, node_modules, dist or .git)', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    const allowed = lines.slice(1).map((l) => {
      expect(l.startsWith('!')).toBe(true);
      return l.slice(1);
    });
    const sources = ['build', 'deps'].flatMap((s) =>
      of(stage(s), 'COPY').flatMap((a) =>
        a
          .split(' ')
          .slice(0, -1)
          .filter((p) => !p.startsWith('--')),
      ),
    );
    expect([...allowed].sort()).toEqual([...new Set(sources)].sort());
  });

  it('needs no dev dependency at run time: everything dist/ requires is a dependency or part of Node', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const needed = new Map<string, string>();
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.js')) {
          for (const [, spec] of fs.readFileSync(p, 'utf8').matchAll(/require\(["']([^"'.][^"']*)["']\)/g)) {
            const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            if (!spec.startsWith('node:') && !builtinModules.includes(name)) needed.set(name, path.relative(REPO_ROOT, p));
          }
        }
      }
    };
    walk(path.join(REPO_ROOT, 'dist'));
    expect(needed.size).toBeGreaterThan(10);
    const missing = [...needed].filter(([name]) => !(name in pkg.dependencies));
    expect(missing).toEqual([]);
  });
});

describe('the compiled CLI (what the image runs)', () => {
  it('starts with plain node and lists the commands the manifests run', async () => {
    const help = await node(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^\s+worker\b/m);
    expect(help.out).toMatch(/^\s+listen\b/m);
    expect(help.out).toMatch(/^\s+codec-server\b/m);
  });

  it('validates the compose config and refuses a broken one, naming the field', async () => {
    const env = { VAULT_TOKEN: 'x', CI_WEBHOOK_KEY: randomBytes(16).toString('hex') };
    const ok = await node(['validate', 'deploy/compose/rotator.yaml'], env);
    const [first, ...rest] = ok.out.trim().split('\n');
    expect({ code: ok.code, first }).toEqual({ code: 0, first: 'deploy/compose/rotator.yaml: ok (2 secrets, 1 rotatable)' });
    // No warning; the compose file's stores (http://vault:8200) are not reachable from here, and validate says so.
    expect(rest).toEqual([expect.stringMatching(/^ {2}note: stored endpoints not compared for 1 secret \(orders_db\)/)]);
    const refused = await node(['validate', 'deploy/compose/rotator.yaml'], { VAULT_TOKEN: 'x', CI_WEBHOOK_KEY: 'short' });
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/triggers\.sources\.ci\.signing_key/);
  });

  it('runs a worker that bundles its workflows from dist/ and polls Temporal, and stops cleanly on SIGTERM', async () => {
    const temporal = testStack().temporal!;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotator-image-'));
    const config = path.join(dir, 'rotator.yaml');
    const taskQueue = `image-${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(
      config,
      `temporal: { address: "${temporal.address}", namespace: ${temporal.namespace}, task_queue: ${taskQueue} }\nsecrets: {}\n`,
    );
    const keys = await node(['keygen', path.join(dir, 'codec.keys')]);
    expect(keys.code).toBe(0);

    const child = spawn(process.execPath, [MAIN, 'worker'], {
      cwd: dir,
      env: { PATH: process.env.PATH, ROTATOR_CONFIG: config, ROTATOR_CODEC_KEY_FILE: path.join(dir, 'codec.keys') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let log = '';
    try {
      const started = await new Promise<boolean>((resolve) => {
        child.stdout.on('data', (c: Buffer) => {
          log += c.toString();
          if (/"msg":"worker started"/.test(log)) resolve(true);
        });
        child.stderr.on('data', (c: Buffer) => (log += c.toString()));
        void exited.then(() => resolve(false));
      });
      expect({ started, log: started ? '' : log }).toEqual({ started: true, log: '' });
      expect(log).toMatch(new RegExp(`"taskQueue":"${taskQueue}"`));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(log).toMatch(/"msg":"worker stopped"/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs a worker on the pinned Node whose output has no warning: not the AWS SDK's about the Node version, none of Node's", async () => {
    // Under Node < 22 the AWS SDK writes a several-line NodeVersionSupportWarning to stderr (its releases after
    // January 2027 need 22) once a process builds its first client: the worker's first rotation of a secret in an AWS
    // store. Spawned with the node this test runs on, which `npm test` makes the one .node-version pins.
    const temporal = testStack().temporal!;
    const moto = testStack().moto!.endpoint;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotator-image-'));
    const config = path.join(dir, 'rotator.yaml');
    const id = randomBytes(4).toString('hex');
    const taskQueue = `image-${id}`;
    fs.writeFileSync(
      config,
      [
        `temporal: { address: "${temporal.address}", namespace: ${temporal.namespace}, task_queue: ${taskQueue} }`,
        'providers:',
        `  sm: { type: aws-secrets-manager, region: us-east-1, endpoint: "${moto}", access_key_id: test, secret_access_key: test }`,
        'secrets:',
        `  pg_admin: { provider: sm, path: image/${id}/pg-admin }`,
        `  app_db:`,
        `    provider: sm`,
        `    path: image/${id}/app-db`,
        `    target: { type: postgresql, connection: secret://pg_admin, role: image_${id} }`,
        '    rotation: { strategy: single-user }',
        '',
      ].join('\n'),
    );
    const keyFile = path.join(dir, 'codec.keys');
    expect((await node(['keygen', keyFile])).code).toBe(0);
    const env = { ROTATOR_CONFIG: config, ROTATOR_CODEC_KEY_FILE: keyFile };
    const child = spawn(process.execPath, [MAIN, 'worker'], {
      cwd: dir,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let out = '';
    let err = '';
    try {
      const started = await new Promise<boolean>((resolve) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (/"msg":"worker started"/.test(out)) resolve(true);
        });
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        void exited.then(() => resolve(false));
      });
      expect({ started, err }).toEqual({ started: true, err: '' });
      // Nothing is stored at either path: the worker's first step reads the admin credential from the store (its first
      // AWS client) and the rotation fails there, having changed nothing.
      const rotation = await node(['rotate', 'app_db', '--wait'], env);
      expect(rotation.code).toBe(1);
      expect(rotation.out).toContain(
        `error: [NOT_FOUND] inspect: target.connection: the secret at sm:image/${id}/pg-admin does not exist`,
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toMatch(/"msg":"worker stopped"/);
      for (const text of [out, err, rotation.out, rotation.err])
        expect(text).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
      // Nothing at all on the worker's stderr: it logs JSON to stdout, and Node prints its warnings to stderr.
      expect(err).toBe('');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docker-compose.yml', () => {
  const compose = () =>
    parse(read('docker-compose.yml')) as {
      services: Record<string, { image?: string; build?: string; command?: string[]; entrypoint?: unknown; volumes?: string[] }>;
    };

  it('runs worker, listener and codec server from the rotator image, none of them installing anything at start', () => {
    const { services } = compose();
    for (const [name, command] of [
      ['worker', 'worker'],
      ['listener', 'listen'],
      ['codec-server', 'codec-server'],
      ['keygen', 'keygen'],
    ] as const) {
      const service = services[name];
      expect({ name, image: service.image, build: service.build, command: service.command?.[0] }).toEqual({
        name,
        image: 'rotator:local',
        build: '.',
        command,
      });
      expect(service.entrypoint).toBeUndefined();
      expect(JSON.stringify(service)).not.toMatch(/\b(npm|npx|tsx)\b|\.:\/app/);
    }
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['temporal', 'openbao', 'postgres', 'redis', 'ferretdb', 'moto']),
    );
  });

  it("registers rotator's search attributes on compose's Temporal, without which a rotation is refused", () => {
    const { services } = compose();
    const command = (services.temporal as { command?: string[] }).command ?? [];
    for (const key of Object.values(SEARCH_ATTRIBUTES)) expect(command).toContain(`--search-attribute=${key.name}=Keyword`);
  });

  it('mounts a config that is valid with the environment compose gives the worker', () => {
    const { services } = compose();
    const mount = services.worker.volumes!.find((v) => v.endsWith(':/etc/rotator/rotator.yaml:ro'))!;
    const file = mount.split(':')[0];
    const environment = (parse(read('docker-compose.yml')) as { services: { worker: { environment: Record<string, string> } } })
      .services.worker.environment;
    expect(environment.ROTATOR_CONFIG).toBe('/etc/rotator/rotator.yaml');
    // Compose's own ${VAR:-default}, as `docker compose up` with no .env would leave it.
    const env = Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]));
    const config = parseConfig(read(file), env, file);
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.triggers?.listen?.port).toBe(8088);
  });
});
