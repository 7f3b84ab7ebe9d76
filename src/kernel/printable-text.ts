// The zod string for a sender's name or id that may reach a log line or history.
import { z } from 'zod';
import { PRINTABLE } from './printable';

/** 1 to `max` characters, none of them a control, format (bidi) or line-separator character. */
export const printableText = (max: number) =>
  z.string().min(1).max(max).regex(PRINTABLE, { message: 'control, format and line-separator characters are not allowed' });
