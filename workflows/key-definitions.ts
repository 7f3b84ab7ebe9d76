// The key rotation's contract: its workflow name, input, plan (references only) and status query.
import { defineQuery } from '@temporalio/workflow';

/** The workflow type name the client starts and the worker registers. */
export const ROTATE_KEY = 'rotateKey';

/**
 * What a key rotation needs, made from config by the client: the key plugin's block (names, never a credential), the
 * store that holds the ciphertexts and its paths, the grace period and the sample size. No value travels with it.
 */
export interface KeyPlan {
  secret: string;
  /** The secret's `encryption_key:` block: `type` names the key plugin. */
  key: { type: string } & Record<string, unknown>;
  /** The provider whose store holds the ciphertexts. */
  store: string;
  /** Every path of that store that holds ciphertexts of the key (the secret's path first). */
  paths: string[];
  /** How long readers keep decrypting old ciphertexts (their caches) before the key stops decrypting old versions. */
  graceMs: number;
  /** How many ciphertexts per path the verify decrypts. */
  sample: number;
}

export interface RotateKeyInput {
  plan: KeyPlan;
  requestedBy?: string;
}

export type KeyPhase = 'rotate' | 'rewrap' | 'grace' | 'raise' | 'verify' | 'rollback' | 'done' | 'failed';

export interface KeyRotationStatus {
  secret: string;
  phase: KeyPhase;
  /** The key's newest version before the rotation, and the one it made (null until made). */
  fromVersion: number | null;
  version: number | null;
  /** The key's oldest decryptable version before the rotation, and now. */
  minDecryptionBefore: number | null;
  minDecryption: number | null;
  /** Ciphertexts rewrapped by this rotation, and ciphertexts the configured paths hold. */
  rewrapped: number;
  ciphertexts: number;
  /** When the grace period ends (epoch ms), while in it. */
  graceEndsAt: number | null;
  /** Why it failed, and what was undone (never a value). */
  error: string | null;
}

export const keyRotationStatusQuery = defineQuery<KeyRotationStatus>('keyRotationStatus');
