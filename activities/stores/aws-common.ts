// What the two AWS stores share: client settings from provider config, and AWS errors turned into RotatorError codes.
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { stillWanted } from '../../src/kernel/attempt';
import { RotatorError, type ErrorCode } from '../../src/kernel/errors';
import { redact } from '../../src/kernel/redact';
import { CONNECT_TIMEOUT_MS, REQUEST_TIMEOUT_MS, seconds } from '../timeouts';
import type { WriteGate } from '../types';

export interface AwsConnectionOptions {
  region: string;
  /** For emulators (moto, LocalStack) and VPC endpoints; unset means the regional endpoint. STS uses it too. */
  endpoint?: string;
  /** Both or neither: without them the SDK's default chain (env, profile, SSO, instance role) applies. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** A role to assume (STS AssumeRole) with the credentials above; the SDK renews them before they expire. */
  roleArn?: string;
}

type AssumedCredentials = ReturnType<typeof fromTemporaryCredentials>;

/** Names the session in the role's CloudTrail entries, so an audit sees which tool used the role. */
const ROLE_SESSION_NAME = 'rotator';

/** The settings both SDK clients take; kept SDK-agnostic so each store passes it to its own client. */
export function awsClientConfig(options: AwsConnectionOptions): {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string } | AssumedCredentials;
} {
  const keys =
    options.accessKeyId && options.secretAccessKey
      ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
      : undefined;
  return {
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.roleArn ? { credentials: assumeRole(options.roleArn, options, keys) } : keys ? { credentials: keys } : {}),
  };
}

/**
 * A store's client, used by the steps of a rotation: each SDK request ends after REQUEST_TIMEOUT_MS and the SDK tries
 * once (the step's own retries try again), so connecting and the request end within the step's timeout, so a request to an endpoint that stopped answering never runs on
 * beside the step's retry. (The SQS listener's long polls take the plain config.)
 */
export function awsStepClientConfig(options: AwsConnectionOptions): ReturnType<typeof awsClientConfig> & {
  requestHandler: { requestTimeout: number; connectionTimeout: number };
  maxAttempts: number;
} {
  return {
    ...awsClientConfig(options),
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: CONNECT_TIMEOUT_MS },
    maxAttempts: 1,
  };
}

/**
 * Credentials of `roleArn`, from STS in the store's region and at its endpoint (an emulator's, a VPC endpoint), asked
 * for with the given keys or the default chain's. A refusal names the role: the SDK's own message may not.
 */
function assumeRole(
  roleArn: string,
  options: AwsConnectionOptions,
  keys: { accessKeyId: string; secretAccessKey: string } | undefined,
): AssumedCredentials {
  const provider = fromTemporaryCredentials({
    params: { RoleArn: roleArn, RoleSessionName: ROLE_SESSION_NAME },
    ...(keys ? { masterCredentials: keys } : {}),
    clientConfig: { region: options.region, ...(options.endpoint ? { endpoint: options.endpoint } : {}) },
  });
  return async (props) => {
    try {
      return await provider(props);
    } catch (err) {
      if (err instanceof Error) err.message = `assuming role ${roleArn}: ${err.message}`;
      throw err;
    }
  };
}

interface AwsErrorShape {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

export function awsErrorName(err: unknown): string {
  return (err as AwsErrorShape | undefined)?.name ?? 'Error';
}

const PERMISSION = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'DecryptionFailure',
  'KMSAccessDeniedException',
  'KMSNotFoundException',
  'KMSDisabledException',
]);
const NOT_FOUND = new Set(['ResourceNotFoundException', 'ParameterNotFound', 'ParameterVersionNotFound']);
const CONFLICT = new Set([
  'ResourceExistsException',
  'InvalidRequestException',
  'ParameterAlreadyExists',
  'ParameterMaxVersionLimitExceeded',
]);
const INVALID = new Set([
  'ValidationException',
  'InvalidParameterException',
  'InvalidKeyId',
  'ParameterPatternMismatchException',
  'HierarchyLevelLimitExceededException',
]);

/**
 * AWS messages name resources, not values; still, every message goes through redact() with the values the caller
 * holds, and no SDK object (whose request may carry the secret) is attached to the error.
 */
export function awsError(
  err: unknown,
  action: string,
  secrets: ReadonlyArray<string | undefined> = [],
  override?: Partial<Record<string, ErrorCode>>,
): RotatorError {
  if (err instanceof RotatorError) return err;
  const e = (err ?? {}) as AwsErrorShape;
  const name = e.name ?? 'Error';
  const text = redact(`${action} failed: ${name}: ${(e.message ?? String(err)).split('\n')[0]}`, secrets);
  if (name === 'TimeoutError' || name === 'RequestTimeout')
    return new RotatorError('TRANSIENT', `${action} failed: AWS did not answer within ${seconds(REQUEST_TIMEOUT_MS)}`);
  const forced = override?.[name];
  if (forced) return new RotatorError(forced, text);
  if (PERMISSION.has(name)) return new RotatorError('PERMISSION_DENIED', text);
  if (NOT_FOUND.has(name)) return new RotatorError('NOT_FOUND', text);
  if (CONFLICT.has(name)) return new RotatorError('CONFLICT', text);
  if (INVALID.has(name)) return new RotatorError('CONFIG_INVALID', text);
  if (name === 'CredentialsProviderError') {
    return new RotatorError('CONFIG_INVALID', `${text} (set access_key_id/secret_access_key or the AWS credential environment)`);
  }
  return new RotatorError('TRANSIENT', text);
}

export { parseSecretJson, secretsOf } from './json-value';

/** AWS operations that only read: every other request an AWS store sends writes. */
const READ_ONLY_OPERATION = /^(Get|Describe|List|BatchGet)/;

interface MiddlewareStack {
  middlewareStack: {
    add(
      mw: (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => Promise<unknown>,
      options: { step: 'finalizeRequest'; priority: 'low'; name: string },
    ): void;
  };
}

/**
 * The same AWS client, refusing every request that writes from an attempt its step already gave up on
 * (src/kernel/attempt.ts): a store method that waited on a slow answer must not go on to write after the rotation's
 * compensation ran (fault matrix, Secrets Manager promote × latency above the timeout: the abandoned promote moved
 * AWSCURRENT after rollbackStore had found nothing to undo, and the withdrawn login was published).
 */
export function liveAttemptsOnly<C extends { middlewareStack: object }>(client: C, service: string): C {
  (client as unknown as MiddlewareStack).middlewareStack.add(
    (next, context) => async (args) => {
      const operation = context.commandName?.replace(/Command$/, '') ?? 'request';
      if (!READ_ONLY_OPERATION.test(operation)) stillWanted(`${service} ${operation}`);
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'rotatorLiveAttempt' },
  );
  return client;
}

interface GateableCommand {
  middlewareStack: {
    addRelativeTo(
      mw: (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => Promise<unknown>,
      options: { relation: 'before'; toMiddleware: string; name: string; override: boolean },
    ): void;
  };
}

/**
 * The same AWS client, calling `gate` before each request that writes (a mass rotation's write budget): once per
 * request the server receives, a retry of one included, so every API call that writes counts, however many a
 * store method makes (PutSecretValue, UpdateSecretVersionStage, TagResource, …). Reads are never gated.
 */
export function writeGatedClient<C extends { send(command: never, ...rest: never[]): Promise<unknown> }>(
  client: C,
  gate: WriteGate,
): C {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
      return (command: GateableCommand, ...rest: unknown[]) => {
        // Between the SDK's retry middleware and its signing (SigV4): each attempt sent takes its token, and is signed
        // once its turn came, so however long it waited its signature is fresh (a signature older than 5 min is refused).
        command.middlewareStack.addRelativeTo(
          (next, context) => async (args) => {
            if (READ_ONLY_OPERATION.test(context.commandName ?? '')) return next(args);
            const release = await gate();
            try {
              return await next(args);
            } finally {
              release();
            }
          },
          { relation: 'before', toMiddleware: 'httpSigningMiddleware', name: 'rotatorWriteBudget', override: true },
        );
        return (target.send as (...a: unknown[]) => Promise<unknown>).call(target, command, ...rest);
      };
    },
  });
}
