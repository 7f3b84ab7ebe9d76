// git and sops run as children under a timeout below the step's: a command that hangs (a git remote that does not
// answer) is killed and fails TRANSIENT, naming the command and not its arguments.
import { run } from './run';

describe('run', () => {
  it('kills a command that outlives its timeout and fails TRANSIENT naming only the command', async () => {
    await expect(run('sleep', ['30'], { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'TRANSIENT',
      message: 'sleep did not end within 0.2s',
    });
  });

  it('returns what a command printed and its exit code', async () => {
    await expect(run('sh', ['-c', 'cat; exit 3'], { input: 'in' })).resolves.toEqual({ code: 3, stdout: 'in', stderr: '' });
  });
});
