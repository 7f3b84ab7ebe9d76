// Temporal connection and client with rotator's data converter, for the CLI, the worker and the tests alike.
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config/schema';
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
