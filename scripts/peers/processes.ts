/**
 * The peers' processes: pid files (checked against the process start time, so a reused pid
 * is left alone), starting a peer detached with its log, and signalling its process group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerName } from './config.js';
import { isAlive, procStat, readFileSafe } from './util.js';

export interface PidRecord {
  readonly pid: number;
  /** /proc start time, to tell our process from a later one that reused the pid. */
  readonly startTime?: string;
}

export function pidFile(dir: string, name: string): string {
  return join(dir, `${name}.pid`);
}

export function writePidFile(dir: string, name: string, pid: number): void {
  const startTime = procStat(pid)?.startTime;
  writeFileSync(pidFile(dir, name), `${pid}\n${startTime ?? ''}\n`);
}

export function readPidFile(path: string): PidRecord | undefined {
  const [pidText, startTime] = (readFileSafe(path) ?? '').split('\n');
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  return { pid, startTime: startTime || undefined };
}

/** The process in the record is still the one we started. */
export function isOurs(record: PidRecord): boolean {
  if (!isAlive(record.pid)) return false;
  if (record.startTime === undefined) return true;
  const now = procStat(record.pid)?.startTime;
  return now === undefined || now === record.startTime;
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  // Every peer is spawned detached, as the leader of its own process group: signal the
  // group (children included), or the process alone if the group is gone.
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export interface Spawned {
  readonly name: PeerName;
  readonly child: ChildProcess;
  readonly logPath: string;
  exit?: string;
}

export function spawnPeer(
  dir: string,
  name: PeerName,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Spawned {
  const logPath = join(dir, `${name}.log`);
  const fd = openSync(logPath, 'w');
  try {
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
    const spawned: Spawned = { name, child, logPath };
    child.on('error', (err) => (spawned.exit = `cannot start ${command}: ${err.message}`));
    child.on('exit', (code, signal) => (spawned.exit = `exited (${signal ?? `code ${code}`})`));
    child.unref();
    if (child.pid !== undefined) writePidFile(dir, name, child.pid);
    return spawned;
  } finally {
    closeSync(fd);
  }
}
