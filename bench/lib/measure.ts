/**
 * One process, measured the way the benchmarks compare tools: wall time from spawn to exit,
 * CPU (user + system) and peak RSS of the process and the children it waited for, read
 * from GNU time (`/usr/bin/time`, Debian package `time`), which reports the kernel's
 * rusage. Shared by bench/startup.ts and bench/issue.ts.
 */
import { runToEnd } from '../../scripts/test-kit/child.js';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const GNU_TIME = '/usr/bin/time';

export interface Sample {
  /** Milliseconds from spawn to exit. */
  wallMs: number;
  /** User + system CPU, milliseconds (10 ms resolution). */
  cpuMs: number;
  /** Peak resident set size, KiB. */
  rssKb: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that count as success (default 0). */
  ok?: readonly number[];
}

export function requireGnuTime(): void {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing: apt-get install time`);
}

/** Runs `command args` once; a failing exit aborts the bench with its output. */
export async function measure(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Sample> {
  const start = performance.now();
  const { code, stdout, stderr } = await runToEnd(
    GNU_TIME,
    ['-f', '\n@@%e %U %S %M', command, ...args],
    options,
  );
  const wallMs = performance.now() - start;
  const m = /@@([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr);
  if (!(options.ok ?? [0]).includes(code ?? -1) || !m) {
    throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${stdout}\n${stderr}`);
  }
  return { wallMs, cpuMs: (Number(m[2]) + Number(m[3])) * 1000, rssKb: Number(m[4]) };
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
export const min = (xs: readonly number[]): number => Math.min(...xs);
export const secs = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;
export const mib = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;

/** A table of medians (and min wall) per tool, plus each tool's ratio to `base`. */
export function printTable(samples: Record<string, Sample[]>, base?: string): void {
  const rows = Object.entries(samples).map(([tool, s]) => ({
    tool,
    median: median(s.map((x) => x.wallMs)),
    min: min(s.map((x) => x.wallMs)),
    cpu: median(s.map((x) => x.cpuMs)),
    rss: median(s.map((x) => x.rssKb)),
  }));
  const width = Math.max(...rows.map((r) => r.tool.length), 4);
  const b = rows.find((r) => r.tool === base);
  const ratio = (a: number, z: number | undefined) => (z ? `${(a / z).toFixed(2)}x` : '');
  console.log(
    `${'tool'.padEnd(width)}  ${'wall median'.padStart(11)}  ${'wall min'.padStart(9)}  ${'CPU median'.padStart(10)}  ${'peak RSS'.padStart(9)}${b ? `  ${`wall/${b.tool}`.padStart(12)}  ${`CPU/${b.tool}`.padStart(12)}` : ''}`,
  );
  for (const r of rows) {
    console.log(
      `${r.tool.padEnd(width)}  ${secs(r.median).padStart(11)}  ${secs(r.min).padStart(9)}  ${secs(r.cpu).padStart(10)}  ${mib(r.rss).padStart(9)}${b ? `  ${ratio(r.median, b.median).padStart(12)}  ${ratio(r.cpu, b.cpu).padStart(12)}` : ''}`,
    );
  }
}
