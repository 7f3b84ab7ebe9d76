// The stack's services that live in their own files: adding one is its file (a StackService) and one line here.
import type { StackService } from './service';

export const SERVICES = {} satisfies Record<string, StackService<unknown>>;

/** What each service's start() returns, under its name in StackInfo. */
export type ServiceInfo = { [K in keyof typeof SERVICES]?: Awaited<ReturnType<(typeof SERVICES)[K]['start']>> };
