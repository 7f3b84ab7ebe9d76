// Temporal connection and client with rotator's data converter, for the CLI, the worker and the tests alike.
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config/schema';
import { RotatorError } from '../kernel/errors';
import { loadCodecKeys } from './codec/aes-gcm-codec';
import { getDataConverter } from './codec/data-converter';

export type TemporalSettings = Config['temporal'];

/** The codec keys come from the environment (ROTATOR_CODEC_KEY or ROTATOR_CODEC_KEY_FILE), never from config. */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter {
  return getDataConverter(loadCodecKeys(env));
}

export async function connectClient(settings: TemporalSettings, dataConverter: DataConverter): Promise<Client> {
  const connection = await Connection.connect({ address: settings.address });
  return new Client({ connection, namespace: settings.namespace, dataConverter });
}

/** Errors whose cause is the `temporal:` block rather than the rotation: they name the field and are bad input. */
export function temporalConfigError(err: unknown, config: Pick<Config, 'temporal'>): RotatorError | null {
  if ((err as Error)?.name === 'NamespaceNotFoundError' || /^Namespace \S+ is not found/i.test((err as Error)?.message ?? '')) {
    return new RotatorError(
      'CONFIG_INVALID',
      `namespace ${JSON.stringify(config.temporal.namespace)} does not exist on ${config.temporal.address}`,
      'temporal.namespace',
    );
  }
  return null;
}
