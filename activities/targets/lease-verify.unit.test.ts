// `lease.verify.type` names a target whose plugin verifies a lease (verifyLease): the enum comes from the map.
import { LeaseSchema } from '../../src/config/lifecycle';
import { TARGETS } from '.';

describe('lease.verify.type', () => {
  const verifying = Object.entries(TARGETS).flatMap(([type, plugin]) => ('verifyLease' in plugin ? [type] : []));

  it('accepts every target whose plugin has verifyLease', () => {
    expect(verifying).toEqual(expect.arrayContaining(['postgresql', 'redis']));
    expect(verifying).not.toContain('mongodb');
    for (const type of verifying) expect(LeaseSchema.safeParse({ verify: { type, port: 5432 } }).success).toBe(true);
  });

  it('refuses a target without it, listing the ones that have it', () => {
    const r = LeaseSchema.safeParse({ verify: { type: 'mongodb', port: 27017 } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['verify', 'type']);
    for (const type of verifying) expect(r.error?.issues[0]?.message).toContain(type);
  });
});
