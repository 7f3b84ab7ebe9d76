// Turns one SQS message body (an EventBridge envelope) into a TriggerEvent, keeping names and ids only. Pure: no I/O.
//
// Three shapes are accepted, and nothing else:
//  - Secrets Manager API calls recorded by CloudTrail (`detail-type: AWS API Call via CloudTrail`): the secret is
//    `detail.requestParameters.secretId`, else `detail.responseElements.arn` (`aRN` in events before February 2024),
//    else the one Secrets Manager ARN in `resources`. Nothing else in requestParameters is read: PutSecretValue's may
//    hold `secretString` (the value itself) in some trails.
//  - Secrets Manager's own rotation events (CloudTrail `eventType: AwsServiceEvent`, which EventBridge delivers as
//    `detail-type: AWS Service Event via CloudTrail`): `requestParameters` is null and the secret's ARN is
//    `detail.additionalEventData.SecretId` (Secrets Manager user guide, "Logging … with AWS CloudTrail", example entry).
//  - rotator's own: `detail-type: rotator.rotate | rotator.alert`, `detail: {secret, reason?}` from any source. The
//    reason is free text from outside and never leaves this module.
// In AWS only AWS itself may put events whose source starts with `aws.`, so the first two cannot be forged through
// PutEvents; rotator's own can come from any principal the bus and queue policies let send.
import { z } from 'zod';
import { RotatorError } from '../kernel/errors';
import { PRINTABLE } from '../kernel/printable';
import { latestMoment, type TriggerEvent } from './events';

export const CLOUDTRAIL_API_CALL = 'AWS API Call via CloudTrail';
export const CLOUDTRAIL_SERVICE_EVENT = 'AWS Service Event via CloudTrail';
export const OWN_DETAIL_TYPES = ['rotator.rotate', 'rotator.alert'] as const;

/**
 * The API calls that change what a secret holds or how it rotates: each may ask for a rotation, a reconcile or an
 * alert, as the rules decide. Reads (GetSecretValue, DescribeSecret) and tag or policy changes are not events here.
 * CreateSecret is left out: its requestParameters name the secret `name`, and no configured secret exists yet.
 */
export const SECRETS_MANAGER_API_EVENTS = [
  'RotateSecret',
  'CancelRotateSecret',
  'PutSecretValue',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'DeleteSecret',
  'RestoreSecret',
] as const;

/** Secrets Manager's rotation service events (TestRotation* are dry runs of a schedule, not rotations). */
export const SECRETS_MANAGER_ROTATION_EVENTS = [
  'RotationStarted',
  'RotationSucceeded',
  'RotationFailed',
  'RotationAbandoned',
] as const;

const SECRETS_MANAGER_SOURCE = 'aws.secretsmanager';
const SECRETS_MANAGER_EVENT_SOURCE = 'secretsmanager.amazonaws.com';
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:/;

/** Every message below is written here: zod's own would be fine today, but ours are certain never to quote input. */
const required = (what: string) => (iss: { input: unknown }) => (iss.input === undefined ? 'required' : `expected ${what}`);

/** An id or a name as it will travel on (rule matching, logs, workflow memo): bounded, printable. */
const text = (max: number) =>
  z
    .string({ error: required('a string') })
    .min(1, { error: 'expected a non-empty string' })
    .max(max, { error: `expected at most ${max} characters` })
    .regex(PRINTABLE, { error: 'expected no control, format or line-separator characters' });

const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => (iss.input === undefined ? 'required' : `expected one of ${values.join(', ')}`) });

const object = <S extends z.ZodRawShape>(shape: S) => z.object(shape, { error: required('an object') });

const Envelope = object({
  version: z.literal('0', { error: required('"0" (an EventBridge event)') }),
  id: text(256),
  'detail-type': text(128),
  source: text(256),
  time: z.string({ error: required('a string') }).refine((t) => Number.isFinite(Date.parse(t)), {
    error: 'expected an ISO 8601 timestamp',
  }),
  resources: z.array(z.string({ error: 'expected strings' }), { error: required('an array') }).default([]),
  detail: z.looseObject({}, { error: required('an object') }),
});

const secretsManagerOrigin = {
  eventSource: z.literal(SECRETS_MANAGER_EVENT_SOURCE, { error: required(SECRETS_MANAGER_EVENT_SOURCE) }),
};

/** z.object strips unknown keys: of requestParameters only secretId survives parsing, whatever else it held. */
const ApiCall = object({
  ...secretsManagerOrigin,
  eventName: oneOf(SECRETS_MANAGER_API_EVENTS),
  requestParameters: object({ secretId: text(2048).optional() }).nullish(),
  responseElements: object({ arn: text(2048).optional(), aRN: text(2048).optional() }).nullish(),
});

const ServiceEvent = object({
  ...secretsManagerOrigin,
  eventName: oneOf(SECRETS_MANAGER_ROTATION_EVENTS),
  additionalEventData: object({ SecretId: text(2048) }),
});

const OwnEvent = object({
  secret: text(2048),
  // Checked for shape so a sender learns of a typo; never read.
  reason: z.string({ error: 'expected a string' }).max(4096, { error: 'expected at most 4096 characters' }).optional(),
});

function invalid(path: string, message: string): RotatorError {
  return new RotatorError('CONFIG_INVALID', message, path);
}

function parsed<T>(schema: z.ZodType<T>, input: unknown, prefix: string): T {
  const out = schema.safeParse(input);
  if (out.success) return out.data;
  const issue = out.error.issues[0]!;
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  throw invalid(path || 'body', issue.message);
}

/**
 * Parse one SQS message body as `rotator listen` receives it. Throws RotatorError CONFIG_INVALID naming the first
 * field that is wrong (`detail.requestParameters.secretId: required`), never a value: such a message can never
 * succeed and goes to the dead-letter queue.
 */
export function parseSqsBody(sourceName: string, body: string): TriggerEvent {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    // JSON.parse quotes the input in its message: only the fact leaves.
    throw invalid('body', 'not JSON');
  }
  const envelope = parsed(Envelope, json, '');
  const detailType = envelope['detail-type'];
  const base = { source: sourceName, id: envelope.id, time: latestMoment(envelope.time) };

  if (detailType === CLOUDTRAIL_API_CALL || detailType === CLOUDTRAIL_SERVICE_EVENT) {
    if (envelope.source !== SECRETS_MANAGER_SOURCE) {
      throw invalid('source', `expected ${SECRETS_MANAGER_SOURCE} for detail-type ${detailType}`);
    }
    if (detailType === CLOUDTRAIL_SERVICE_EVENT) {
      const detail = parsed(ServiceEvent, envelope.detail, 'detail');
      return { ...base, type: detail.eventName, resource: detail.additionalEventData.SecretId };
    }
    const detail = parsed(ApiCall, envelope.detail, 'detail');
    return { ...base, type: detail.eventName, resource: apiCallSecret(detail, envelope.resources) };
  }
  if ((OWN_DETAIL_TYPES as readonly string[]).includes(detailType)) {
    const detail = parsed(OwnEvent, envelope.detail, 'detail');
    return { ...base, type: detailType, resource: detail.secret };
  }
  throw invalid(
    'detail-type',
    `expected one of ${[CLOUDTRAIL_API_CALL, CLOUDTRAIL_SERVICE_EVENT, ...OWN_DETAIL_TYPES].join(', ')}`,
  );
}

function apiCallSecret(detail: z.infer<typeof ApiCall>, resources: string[]): string {
  const named = detail.requestParameters?.secretId ?? detail.responseElements?.arn ?? detail.responseElements?.aRN;
  if (named) return named;
  const arns = resources.filter((r) => SECRET_ARN.test(r));
  if (arns.length > 1) throw invalid('resources', 'names more than one secret, and the request names none');
  const [arn] = arns;
  if (arn) return parsed(text(2048), arn, 'resources');
  throw invalid(
    'detail.requestParameters.secretId',
    'required (nor do detail.responseElements.arn or resources name the secret)',
  );
}
