import { spawn } from 'node:child_process';
import { CertkeeperError } from '../shared/model/errors.js';

/** How much of a failed command's output goes into the error: enough to see why. */
const OUTPUT_TAIL = 1000;
/** Grace between SIGTERM and SIGKILL for a command that overran its timeout. */
const KILL_GRACE_MS = 2000;

/**
 * Runs the reload commands in order, each through `/bin/sh -c` (so operators can write
 * `nginx -t && systemctl reload nginx`), and stops at the first failure: a non-zero exit,
 * a signal, or running past `timeoutMs`. The error names the command and ends with its
 * output, so the log says why nginx refused the new files.
 */
export async function runCommands(
  commands: readonly string[],
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<void> {
  for (const command of commands) await runCommand(command, timeoutMs, env);
}

function runCommand(command: string, timeoutMs: number, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout also stops what the shell started (sleep, curl...).
    const child = spawn('/bin/sh', ['-c', command], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const fail = (problem: string, cause?: unknown): void => {
      const tail = output.trim();
      reject(
        new CertkeeperError('internal', `reload command "${command}" ${problem}${tail ? `: ${tail}` : ''}`, {
          retryable: true,
          fix: 'run the command by hand as the agent user to see why, and correct it (or reload.commands)',
          cause,
        }),
      );
    };
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS).unref();
      fail(`did not finish within ${timeoutMs / 1000} s (reload.timeoutSeconds)`);
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(`could not be started (${err.message})`, err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else fail(signal ? `was killed by ${signal}` : `exited with status ${code}`);
    });
  });
}
