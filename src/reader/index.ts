// The reader library's entry point (`rotator/reader`): resolve `secret://` URIs in an application and keep
// working through rotations. See client.ts for the cache, the refresh and the fallback order.
export {
  createSecretClient,
  CredentialsRefused,
  SecretClient,
  type Candidate,
  type CredentialRole,
  type SecretChange,
  type SecretClientOptions,
  type Served,
} from './client';
export { isAuthFailure } from './auth-failure';
export type { LeaseEvent, LeaseStatus } from './lease';
export type { ResolvedSecret, ResolvedValue } from '../client/resolve';
