// rotateKey: an encryption key's rotation. The key gets a new version; every ciphertext the configured store paths
// hold is rewrapped onto it and a sample decrypted; after the grace period (readers' caches) the paths are rewrapped
// once more (what a slow writer put back) and, only when none holds an older version (counted again at the raise),
// the key stops decrypting the old versions. A failure before the raise undoes nothing, because nothing needs it:
// the old versions still decrypt, so every reader keeps working. A failed verify after the raise lowers it again.
import { ApplicationFailure, proxyActivities, proxyLocalActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { KeyActivities } from '../activities/key-rotation';
import { keyRotationStatusQuery, type KeyRotationStatus, type RotateKeyInput } from './key-definitions';
import { COMPENSATE, forwardIo, verifyLogin } from './lib/policies';

/** Reading the key before anything changes: a regular activity, so its answer is in history before the rotate. */
const first = proxyActivities<KeyActivities>({
  startToCloseTimeout: '30s',
  // Not heartbeating, so a worker that died is noticed after 10 s, and an outage is ridden out as the other steps do.
  heartbeatTimeout: '10s',
  scheduleToCloseTimeout: '2m',
  retry: forwardIo(60_000).retry!,
});
const io = proxyLocalActivities<KeyActivities>(forwardIo(60_000));
const verifier = proxyLocalActivities<KeyActivities>(verifyLogin(60_000));
const undo = proxyActivities<KeyActivities>(COMPENSATE);

function message(err: unknown): string {
  const e = err as { cause?: { message?: string }; message?: string };
  return e?.cause?.message ?? e?.message ?? String(err);
}

export async function rotateKey({ plan }: RotateKeyInput): Promise<KeyRotationStatus> {
  const status: KeyRotationStatus = {
    secret: plan.secret,
    phase: 'rotate',
    fromVersion: null,
    version: null,
    minDecryptionBefore: null,
    minDecryption: null,
    rewrapped: 0,
    ciphertexts: 0,
    graceEndsAt: null,
    error: null,
  };
  setHandler(keyRotationStatusQuery, () => status);
  const claim = workflowInfo().runId;
  let raised = false;

  const rewrapAll = async (version: number, pass: number) => {
    let total = 0;
    for (const path of plan.paths) {
      const r = await io.keyRewrap(plan, path, version, `${claim}-${pass}`);
      status.rewrapped += r.rewrapped;
      total += r.total;
    }
    status.ciphertexts = total;
  };

  try {
    const before = await first.keyState(plan);
    status.fromVersion = before.latest;
    status.minDecryptionBefore = status.minDecryption = before.minDecryption;
    const made = await io.keyRotate(plan, before.latest);
    const version = made.latest;
    status.version = version;

    status.phase = 'rewrap';
    await rewrapAll(version, 1);
    status.phase = 'verify';
    await verifier.keyVerify(plan, version);

    status.phase = 'grace';
    status.graceEndsAt = Date.now() + plan.graceMs;
    if (plan.graceMs > 0) await sleep(plan.graceMs);
    status.graceEndsAt = null;

    status.phase = 'rewrap';
    await rewrapAll(version, 2);
    status.phase = 'raise';
    raised = true; // recorded before the step: a raise that went through but was never reported is undone too
    const after = await io.keyRaise(plan, version);
    status.minDecryption = after.minDecryption;
    status.phase = 'verify';
    await verifier.keyVerify(plan, version);
    status.phase = 'done';
    return status;
  } catch (err) {
    status.error = message(err);
    const step = status.phase;
    if (raised && status.minDecryptionBefore !== null) {
      status.phase = 'rollback';
      await undo.keyLower(plan, status.minDecryptionBefore);
      status.minDecryption = status.minDecryptionBefore;
    }
    status.phase = 'failed';
    const kept =
      status.minDecryptionBefore === null
        ? 'nothing was changed'
        : `min_decryption_version is ${status.minDecryptionBefore} as before, so every ciphertext still decrypts`;
    throw ApplicationFailure.nonRetryable(
      `key rotation of ${plan.secret} failed at ${step}: ${status.error}; ${kept}`,
      'KEY_ROTATION_FAILED',
    );
  }
}
