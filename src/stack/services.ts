// The stack's services that live in their own files: adding one is its file (a StackService) and one line here.
import type { StackService } from './service';

/** A service loaded when it starts (a stack without it never loads its driver). */
export function lazy<I>(load: () => Promise<{ service: StackService<I> }>): StackService<I> {
  return { start: async (ctx) => (await load()).service.start(ctx) };
}

export const SERVICES = {
  // one line per service: name: lazy(() => import('./<name>')),
  mariadb: lazy(() => import('./mariadb')),
} satisfies Record<string, StackService<unknown>>;

/** What each service's start() returns, under its name in StackInfo. */
export type ServiceInfo = { [K in keyof typeof SERVICES]?: Awaited<ReturnType<(typeof SERVICES)[K]['start']>> };
