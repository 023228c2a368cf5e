import { CertkeeperError } from '../../shared/model/errors.js';

/**
 * One line of `certkeeper doctor`: what was looked at, how it is, and what to do about it.
 * `warn` is worth knowing but does not stop issuance; `fail` does (and makes the exit 1).
 */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** Stable, for scripts: "ca-directory", "hosted-zone:<certificate>", ... */
  id: string;
  status: CheckStatus;
  message: string;
  fix?: string;
}

export interface DoctorReport {
  checks: CheckResult[];
  summary: Record<CheckStatus, number>;
}

/** A check as written: it may answer with several results (one per certificate). */
export type CheckFn = () => Promise<Omit<CheckResult, 'id'> | CheckResult[]>;

export interface CheckSpec {
  id: string;
  run: CheckFn;
  /** What to do when the check got no answer in time (names the peer that hung). */
  timeoutFix: string;
}

/**
 * Runs one check under a deadline and turns whatever it throws into a `fail` line: the
 * point of doctor is to report every problem at once, so no check may end the run, and a
 * peer that hangs (a black-holed endpoint, a CA behind a dead NAT) costs `timeoutMs`, not
 * the SDK's or axios' minutes of retries. The abandoned call keeps running; the CLI exits
 * when the report is printed, so it cannot hold the process.
 */
export async function runCheck(check: CheckSpec, timeoutMs: number): Promise<CheckResult[]> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(timeoutMs)), timeoutMs);
  });
  try {
    const outcome = await Promise.race([check.run(), deadline]);
    return Array.isArray(outcome) ? outcome : [{ id: check.id, ...outcome }];
  } catch (err) {
    if (err instanceof CheckTimeout) {
      return [
        {
          id: check.id,
          status: 'fail',
          message: `no answer within ${Math.round(timeoutMs / 1000)} s`,
          fix: check.timeoutFix,
        },
      ];
    }
    return [failure(check.id, err)];
  } finally {
    clearTimeout(timer);
  }
}

/** A thrown error as a `fail` line; certkeeper's errors already carry the fix. */
export function failure(id: string, err: unknown): CheckResult {
  if (err instanceof CertkeeperError) {
    return { id, status: 'fail', message: err.message, ...(err.fix ? { fix: err.fix } : {}) };
  }
  return { id, status: 'fail', message: err instanceof Error ? err.message : String(err) };
}

export function summarize(checks: readonly CheckResult[]): DoctorReport['summary'] {
  const summary = { ok: 0, warn: 0, fail: 0 };
  for (const check of checks) summary[check.status] += 1;
  return summary;
}

class CheckTimeout extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
  }
}
