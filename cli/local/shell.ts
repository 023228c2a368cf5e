import { spawn } from 'node:child_process';
import { lstat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';

/** True when DIR exists and holds anything (used to prove bad usage wrote nothing). */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

export const absolute = (path: string): string => (isAbsolute(path) ? path : resolve(path));

/** `sh -c CMD`, its output on stderr (stdout stays the result); resolves to its exit code. */
export function runShell(command: string, env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], {
      stdio: ['ignore', process.stderr, process.stderr],
      ...(env ? { env } : {}),
    });
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
