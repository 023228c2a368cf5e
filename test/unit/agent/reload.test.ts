import { describe, expect, it } from 'vitest';
import { runCommands } from '../../../agent/reload.js';

describe('reload commands', () => {
  it('run in order through /bin/sh with the certificate in the environment', async () => {
    await expect(
      runCommands(['true', 'test "$CERTKEEPER_SERIAL" = AB12'], 5000, { CERTKEEPER_SERIAL: 'AB12' }),
    ).resolves.toBeUndefined();
  });

  it('fail on a non-zero exit, with the command and the end of its output', async () => {
    await expect(runCommands(['false'], 5000)).rejects.toThrow('reload command "false" exited with status 1');
    await expect(
      runCommands(['echo nginx: configuration test failed >&2; exit 1', 'touch /never'], 5000),
    ).rejects.toThrow(/exited with status 1: nginx: configuration test failed$/);
  });

  it('fail at the timeout, and the command is stopped', async () => {
    const started = Date.now();
    await expect(runCommands(['sleep 5'], 1000)).rejects.toThrow(
      'reload command "sleep 5" did not finish within 1 s (reload.timeoutSeconds)',
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('fail when the command does not exist, saying so', async () => {
    await expect(runCommands(['no-such-reload-command-ck'], 5000)).rejects.toThrow(
      /exited with status 127: .*not found/,
    );
  });
});
