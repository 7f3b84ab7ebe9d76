// The logger censors secret-shaped fields, whatever a caller passes, and keeps secret names readable.
import { createLogger } from '../src/kernel/log';

it('censors passwords, tokens and values at any depth one level down, but not secret names', () => {
  const lines: string[] = [];
  const log = createLogger({ write: (l: string) => lines.push(l) });
  log.info(
    { secret: 'orders_db', password: 'hunter2-hunter2', admin: { token: 's.abcdef', password: 'pw-pw-pw-pw' }, value: 'v-v-v-v' },
    'x',
  );
  const text = lines.join('');
  expect(text).toContain('orders_db');
  for (const secret of ['hunter2-hunter2', 's.abcdef', 'pw-pw-pw-pw', 'v-v-v-v']) expect(text).not.toContain(secret);
});
