// TEMPORARY copy of the issuing-target seam (/work/wt/SEAM.md) until branch `seam` is merged: then these come from
// activities/types.ts and this file goes.
import type { JsonValue, SecretValue, VerifiedAt } from '../../types';

export interface IssuedCredential {
  id: string;
  secret: string;
  fields?: Record<string, JsonValue>;
}

export interface IssuingTarget {
  readonly issues: true;
  readonly endpoint: Readonly<Record<string, JsonValue>>;
  credentialFields(
    credential: IssuedCredential,
    previous: IssuedCredential | null,
  ): Readonly<Record<string, JsonValue | undefined>>;
  credentialOf(value: SecretValue): IssuedCredential | null;
  issue(request: {
    rotationId: string;
    startedAt: number;
    current: IssuedCredential | null;
    value: SecretValue | null;
  }): Promise<IssuedCredential>;
  verify(credential: IssuedCredential, stored: SecretValue): Promise<VerifiedAt>;
  suspend?(credential: IssuedCredential): Promise<void>;
  resume?(credential: IssuedCredential): Promise<void>;
  withdraw(credential: IssuedCredential): Promise<void>;
  afterWithdraw?(current: SecretValue): Readonly<Record<string, JsonValue | undefined>> | null;
  close(): Promise<void>;
}
