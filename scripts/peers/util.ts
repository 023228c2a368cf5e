/**
 * Small process, file-lock and timing helpers for the peers scripts. Every wait is bounded.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function log(message: string): void {
  process.stderr.write(`[peers] ${message}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (bounded by timeoutMs), capturing its output. */
export function exec(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out after ${options.timeoutMs / 1000}s`));
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Like exec, but throws with the command's output when it fails. */
export async function execOk(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; what: string },
): Promise<string> {
  const result = await exec(command, args, options);
  if (result.code !== 0) {
    const output = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`${options.what} failed (${command} exited with ${result.code}):\n${output}`);
  }
  return result.stdout;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) still answers signal 0.
  const stat = procStat(pid);
  return stat === undefined || stat.state !== 'Z';
}

/** State and start time (clock ticks since boot) from /proc, where there is one. */
export function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', startTime: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * A cross-process lock: a file created exclusively, holding the owner's pid. A lock whose
 * owner is dead is taken over. Waits at most timeoutMs.
 */
export async function withFileLock<T>(
  path: string,
  what: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(readFileSafe(path) ?? '', 10);
      if (!Number.isInteger(owner) || owner <= 0 || !isAlive(owner)) {
        // Stale (or being written this very instant: re-check once before taking over).
        await sleep(100);
        const again = Number.parseInt(readFileSafe(path) ?? '', 10);
        if (again === owner || Number.isNaN(again)) rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what} (held by pid ${owner}, lock ${path})`);
      }
      if (!announced) {
        log(`waiting for ${what} held by pid ${owner}`);
        announced = true;
      }
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    if (readFileSafe(path)?.trim() === String(process.pid)) rmSync(path, { force: true });
  }
}

export function readFileSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The last lines of a log file, for error messages. */
export function tail(path: string, lines = 15): string {
  const text = readFileSafe(path);
  if (text === undefined) return '(no log)';
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
