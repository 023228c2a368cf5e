import { spawn } from 'node:child_process';

/** How a child process ended, and everything it printed. */
export interface Exited {
  code: number | null;
  /** The signal that ended it (SIGKILL for a killed worker), or null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end without blocking this worker (no stdin), collecting its output.
 * Rejects only when the program cannot be started; a non-zero exit is the caller's to judge.
 */
export function runToEnd(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Exited> {
  return new Promise((done, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}
