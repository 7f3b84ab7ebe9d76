// A TLS-terminating gRPC proxy (Debian's nginx, grpc_pass) in front of the Temporal dev server, which has no TLS of
// its own: one port requiring a client certificate (mTLS), one requiring an API key as a bearer token. Certificates
// come from openssl, made fresh per run: a CA, the proxy's certificate for 127.0.0.1, a client certificate, and an
// unrelated CA to be wrong with.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../src/stack/service';

export interface TlsProxy {
  /** host:port of the listener that requires a client certificate signed by the CA. */
  mtlsAddress: string;
  /** host:port of the listener that requires `authorization: Bearer <apiKey>`. */
  apiKeyAddress: string;
  apiKey: string;
  files: { ca: string; clientCert: string; clientKey: string; otherCa: string; otherClientCert: string; otherClientKey: string };
  stop(): Promise<void>;
}

function openssl(dir: string, args: string[]): void {
  const res = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr}`);
}

/** A CA, and a certificate it signs for `cn` (with `san` for a server). */
function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  ]);
}

function makeCert(dir: string, ca: string, name: string, san?: string): void {
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, san ? `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n` : 'extendedKeyUsage=clientAuth\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    ext,
  ]);
}

async function untilListening(port: number, child: ChildProcess, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTlsProxy(upstream: string): Promise<TlsProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-tls-'));
  makeCa(dir, 'ca');
  makeCert(dir, 'ca', 'proxy', 'IP:127.0.0.1,DNS:localhost');
  makeCert(dir, 'ca', 'client');
  makeCa(dir, 'other-ca');
  makeCert(dir, 'other-ca', 'other-client');
  const [mtlsPort, apiKeyPort] = await freePorts(2);
  const apiKey = randomBytes(18).toString('base64url');
  mkdirSync(join(dir, 'tmp'));
  // Long polls last about a minute: the proxy must not cut them.
  const upstreamBlock = `grpc_pass grpc://${upstream}; grpc_read_timeout 300s; grpc_send_timeout 300s;`;
  const conf = `
daemon off;
master_process off;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${mtlsPort} ssl http2;
    ssl_certificate ${dir}/proxy.crt;
    ssl_certificate_key ${dir}/proxy.key;
    ssl_client_certificate ${dir}/ca.crt;
    ssl_verify_client on;
    location / { ${upstreamBlock} }
  }
  server {
    listen 127.0.0.1:${apiKeyPort} ssl http2;
    ssl_certificate ${dir}/proxy.crt;
    ssl_certificate_key ${dir}/proxy.key;
    location / {
      if ($http_authorization != "Bearer ${apiKey}") { return 401; }
      ${upstreamBlock}
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume();
  await untilListening(mtlsPort, child);
  await untilListening(apiKeyPort, child);
  return {
    mtlsAddress: `127.0.0.1:${mtlsPort}`,
    apiKeyAddress: `127.0.0.1:${apiKeyPort}`,
    apiKey,
    files: {
      ca: join(dir, 'ca.crt'),
      clientCert: join(dir, 'client.crt'),
      clientKey: join(dir, 'client.key'),
      otherCa: join(dir, 'other-ca.crt'),
      otherClientCert: join(dir, 'other-client.crt'),
      otherClientKey: join(dir, 'other-client.key'),
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
