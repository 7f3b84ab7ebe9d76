// Every consumer plugin, by the `type:` a `consumers:` entry names. Adding a consumer: its folder, one line here.
import type { AnyConsumerPlugin, ConsumerPlugin } from '../plugin';
import { log } from './log';

export const CONSUMERS = { log } satisfies Record<string, AnyConsumerPlugin>;

export type ConsumerType = keyof typeof CONSUMERS;
export type ConsumerSchema = (typeof CONSUMERS)[ConsumerType]['schema'];

export function consumerPlugin<C extends { type: string }>(config: C): ConsumerPlugin<C> {
  return CONSUMERS[config.type as ConsumerType] as unknown as ConsumerPlugin<C>;
}
