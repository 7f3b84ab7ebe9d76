// Every consumer plugin, by the `type:` a `consumers:` entry names. Adding a consumer: its folder, one line here.
// The order is the one errors list them in (and the L5 spec's on_rotation actions: reconnect, restart, alert).
import type { AnyConsumerPlugin, ConsumerPlugin } from '../plugin';
import { alert } from './alert';
import { log } from './log';
import { rollout } from './rollout';
import { webhook } from './webhook';

export const CONSUMERS = { log, webhook, rollout, alert } satisfies Record<string, AnyConsumerPlugin>;

export type ConsumerType = keyof typeof CONSUMERS;
export type ConsumerSchema = (typeof CONSUMERS)[ConsumerType]['schema'];

export function consumerPlugin<C extends { type: string }>(config: C): ConsumerPlugin<C> {
  return CONSUMERS[config.type as ConsumerType] as unknown as ConsumerPlugin<C>;
}
