// The http target's block: defaults, and the checks a field cannot make alone (all attempts within the step's time).
import { schema, settingsOf, STEP_BUDGET_MS } from './index';

const block = (extra: Record<string, unknown> = {}) => ({
  type: 'http',
  connection: 'secret://hook_keys',
  url: 'https://keys.internal/rotator',
  ...extra,
});

describe('the http target block', () => {
  it('takes a url and a connection, with 5s × 3 attempts from 500ms backoff and signed answers by default', () => {
    const parsed = schema.parse(block());
    expect(settingsOf(parsed)).toEqual({
      url: 'https://keys.internal/rotator',
      timeoutMs: 5_000,
      attempts: 3,
      backoffMs: 500,
      signedAnswers: true,
    });
  });

  it('refuses attempts that cannot all end within the step, naming timeout and the figures', () => {
    const result = schema.safeParse(block({ timeout: '10s', attempts: 3 }));
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path).toEqual(['timeout']);
    expect(issue.message).toContain(`come to 31.5s, over the ${STEP_BUDGET_MS / 1000}s a step's requests get`);
  });

  it('refuses a url with a user or password (the plan, and so history, holds it), without quoting it', () => {
    const result = schema.safeParse(block({ url: 'https://u:hunter2hunter2@keys.internal/rotator' }));
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error!.issues)).not.toContain('hunter2');
    expect(result.error!.issues[0]!.path).toEqual(['url']);
  });

  it('refuses unknown fields (a typo is not ignored)', () => {
    expect(schema.safeParse(block({ timout: '1s' })).success).toBe(false);
  });
});
