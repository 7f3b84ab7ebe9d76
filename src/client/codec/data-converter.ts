// The one DataConverter shared by Client and Worker: AES-GCM payloads, and failures whose text is encrypted too.
import type { DataConverter } from '@temporalio/common';
import { AesGcmCodec, type CodecKeys } from './aes-gcm-codec';

/**
 * SDK 1.24's DataConverter has no `failureConverter` field, only `failureConverterPath`: the Worker must load the
 * converter inside the workflow sandbox too, so it is named by module path rather than passed as an object.
 */
export const FAILURE_CONVERTER_PATH: string = require.resolve('./failure-converter');

export function getDataConverter(keys: CodecKeys): DataConverter {
  return {
    payloadCodecs: [new AesGcmCodec(keys)],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}
