/**
 * Runs the operator commands as a person or a script would: `certkeeper ...` as a child
 * process, pointed at a local stand-in for the deployed stack through the same
 * CERTKEEPER_* and AWS_ENDPOINT_URL* variables the Lambdas read.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(REPO, 'cli', 'main.ts');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  done: Promise<Run>;
}

/** Starts `certkeeper args...` with exactly `env` (plus PATH and HOME) as its environment. */
export function start(args: readonly string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO,
    // Not the test process's environment: the CLI must find the stack from what it is given.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NO_COLOR: '1',
      AWS_EC2_METADATA_DISABLED: 'true',
      // The SDK's notice that it will need Node 22 from 2027 would be in every stderr here.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = new Promise<Run>((resolveRun, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
  return { child, done };
}

export const certkeeper = (args: readonly string[], env: Record<string, string>): Promise<Run> =>
  start(args, env).done;

/** The JSON a `--json` run printed, failing with its output when it is not JSON. */
export function json<T = Record<string, unknown>>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}
