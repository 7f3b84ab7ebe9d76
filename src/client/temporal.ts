// Temporal connection and client with rotator's data converter, for the CLI, the worker and the tests alike.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { InterceptingCall, Metadata, status, type Interceptor } from '@grpc/grpc-js';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionOptions,
  type TLSConfig,
} from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config/schema';
import { RotatorError } from '../kernel/errors';
import { loadCodecKeys } from './codec/aes-gcm-codec';
import { getDataConverter } from './codec/data-converter';

export type TemporalSettings = Config['temporal'];

/** The codec keys come from the environment (ROTATOR_CODEC_KEY or ROTATOR_CODEC_KEY_FILE), never from config. */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter {
  return getDataConverter(loadCodecKeys(env));
}

/** What Connection.connect and NativeConnection.connect both take beyond the address: TLS and an API key. */
export interface ConnectionSecurity {
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

function readFor(field: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RotatorError('CONFIG_INVALID', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, field);
  }
}

/** The `temporal:` block's TLS files and API key, read now (a missing file names its field). */
export function connectionSecurity(settings: TemporalSettings): ConnectionSecurity {
  const { tls, api_key: apiKey, api_key_file: apiKeyFile } = settings;
  const key = apiKey ?? (apiKeyFile ? readFor('temporal.api_key_file', apiKeyFile).toString('utf8').trim() : undefined);
  let config: TLSConfig | boolean | undefined = key ? true : undefined;
  if (tls) {
    config = {
      ...(tls.server_name ? { serverNameOverride: tls.server_name } : {}),
      ...(tls.ca_file ? { serverRootCACertificate: readFor('temporal.tls.ca_file', tls.ca_file) } : {}),
      ...(tls.cert_file && tls.key_file
        ? {
            clientCertPair: {
              crt: readFor('temporal.tls.cert_file', tls.cert_file),
              key: readFor('temporal.tls.key_file', tls.key_file),
            },
          }
        : {}),
    };
  }
  return { ...(config !== undefined ? { tls: config } : {}), ...(key ? { apiKey: key } : {}) };
}

/**
 * The client's gRPC interceptors: the SDK's retry, and below it a guard. The retry waits on a timer between attempts;
 * when the connection closes during that wait, the channel refuses the next attempt by throwing ('Channel has been
 * shut down') from the timer, where no caller can catch it: the call never settles and the process gets an uncaught
 * error. The guard turns that refusal into a failed call (CANCELLED, which the retry does not retry), so the error
 * reaches whoever made the call.
 */
export function clientInterceptors(): Interceptor[] {
  return [makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), failCallsTheChannelRefuses];
}

/** What grpc-js throws for a call on a closed channel (internal-channel.ts, createCall). */
const CHANNEL_SHUT_DOWN = /^Channel has been shut down$/;

const failCallsTheChannelRefuses: Interceptor = (options, nextCall) => {
  try {
    return new InterceptingCall(nextCall(options));
  } catch (err) {
    if (!CHANNEL_SHUT_DOWN.test((err as Error)?.message ?? '')) throw err;
    return new InterceptingCall(refusedCall(`the connection to Temporal is closed: ${(err as Error).message}`));
  }
};

/**
 * A call that never went out: it ends with CANCELLED as soon as it starts. As grpc-js ends a unary call, an empty
 * message comes before the status (the SDK's retry passes its saved message on before the status it does not retry).
 */
function refusedCall(details: string): ConstructorParameters<typeof InterceptingCall>[0] {
  return {
    start(_metadata, listener) {
      process.nextTick(() => {
        listener?.onReceiveMessage?.(null);
        listener?.onReceiveStatus?.({ code: status.CANCELLED, details, metadata: new Metadata() });
      });
    },
    sendMessage() {},
    sendMessageWithContext() {},
    startRead() {},
    halfClose() {},
    cancelWithStatus() {},
    getPeer: () => '',
    getAuthContext: () => null,
  };
}

/** Connection.connect with clientInterceptors: every client connection of rotator and its tests is made here. */
export function connectTemporal(options: ConnectionOptions): Promise<Connection> {
  return Connection.connect({ interceptors: clientInterceptors(), ...options });
}

export async function connectClient(settings: TemporalSettings, dataConverter: DataConverter): Promise<Client> {
  const connection = await connectTemporal({ address: settings.address, ...connectionSecurity(settings) }).catch(
    async (err: unknown) => {
      if (err instanceof RotatorError) throw err;
      throw new RotatorError('TRANSIENT', `cannot reach Temporal at ${settings.address}: ${await whyUnreachable(err, settings)}`);
    },
  );
  return new Client({ connection, namespace: settings.namespace, dataConverter });
}

/** The innermost message of an error chain, on one line. */
function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e && (e.cause as { message?: string } | undefined)?.message) e = e.cause as typeof e;
  return String(e?.message ?? err).split('\n')[0];
}

/**
 * Why a connection failed, in terms of the `temporal:` block: the gRPC errors only say "failed to connect", so a
 * refused key or certificate is recognised by its HTTP status, and a TLS handshake is tried once more on its own.
 */
export async function whyUnreachable(err: unknown, settings: TemporalSettings): Promise<string> {
  const text = rootMessage(err);
  if (/\b401\b|UNAUTHENTICATED/.test(text) && (settings.api_key || settings.api_key_file))
    return `the server refused the API key (temporal.api_key): ${text}`;
  if (/HTTP status code 400/.test(text) && settings.tls && !settings.tls.cert_file)
    return `the server refused the connection (${text}); it may require a client certificate: set temporal.tls.cert_file and key_file`;
  const handshake = settings.tls || settings.api_key || settings.api_key_file ? await tlsHandshakeError(settings) : null;
  return handshake ?? text;
}

/** Tries the TLS handshake the gRPC client would make; the error it fails with, or null when it succeeds. */
async function tlsHandshakeError(settings: TemporalSettings): Promise<string | null> {
  const { tls: tlsConfig } = connectionSecurity(settings);
  const config = typeof tlsConfig === 'object' ? tlsConfig : {};
  const [host, port] = [settings.address.replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(settings.address)?.[1] ?? 7233)];
  const servername = config.serverNameOverride ?? (isIP(host) ? undefined : host);
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      ...(servername ? { servername } : {}),
      ALPNProtocols: ['h2'],
      ...(config.serverRootCACertificate ? { ca: Buffer.from(config.serverRootCACertificate) } : {}),
      ...(config.clientCertPair
        ? { cert: Buffer.from(config.clientCertPair.crt), key: Buffer.from(config.clientCertPair.key) }
        : {}),
      timeout: 5_000,
    });
    const done = (result: string | null) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('secureConnect', () => done(null));
    socket.once('timeout', () => done('no TLS handshake within 5 s'));
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const field = settings.tls?.ca_file ? ' by temporal.tls.ca_file' : '';
      done(
        /CERT|SIGNATURE|ISSUER|SELF_SIGNED/.test(e.code ?? '')
          ? `the server's TLS certificate is not trusted${field} (${e.code})`
          : `TLS handshake failed: ${e.message}`,
      );
    });
  });
}

/** Errors whose cause is the `temporal:` block rather than the rotation: they name the field and are bad input. */
export function temporalConfigError(err: unknown, config: Pick<Config, 'temporal'>): RotatorError | null {
  if ((err as Error)?.name === 'NamespaceNotFoundError' || /^Namespace \S+ is not found/i.test((err as Error)?.message ?? '')) {
    return new RotatorError(
      'CONFIG_INVALID',
      `namespace ${JSON.stringify(config.temporal.namespace)} does not exist on ${config.temporal.address}`,
      'temporal.namespace',
    );
  }
  return null;
}
