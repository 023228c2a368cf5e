/**
 * A real browser for the dashboard's test and bench: Debian's chromium (the peers install
 * puts it at /usr/bin/chromium), driven headless by playwright-core, which downloads no
 * browser of its own (it has no install script, and is only ever given this executable).
 * Each launch has a fresh profile in a temporary directory, removed on close; nothing is
 * fetched from the network (no updates, sync or first-run pages).
 *
 * And `certkeeper dashboard` as a person starts it: a child process, its URL read from what
 * it prints.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { chromiumPath } from '../peers/chromium.js';
import { type Running, start } from './operator.js';

export const CHROMIUM = chromiumPath();

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 1400, height: 900 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the peers install puts it there (npm run peers -- install), or apt-get install chromium`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'certkeeper-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport,
      // UTC like the page's times, whatever this machine's zone.
      timezoneId: 'UTC',
      // The page's own Content-Security-Policy (script-src 'self') forbids eval, which is
      // how Playwright evaluates a test's waitForFunction predicate in the page; the test
      // steps aside from it, the page under test keeps it (a test checks the header).
      bypassCSP: true,
    });
    return {
      context,
      async close() {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

export interface Dashboard {
  url: string;
  running: Running;
  /** Output so far, for failure messages. */
  output(): string;
  /** Ctrl-C, and the exit. */
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts `certkeeper dashboard args...` and waits for the URL it prints. */
export async function startDashboard(
  args: readonly string[],
  env: Record<string, string>,
): Promise<Dashboard> {
  const running = start(['dashboard', ...args], env);
  let stdout = '';
  let stderr = '';
  running.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  running.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no URL from certkeeper dashboard:\n${stdout}\n${stderr}`)),
      60_000,
    );
    const look = () => {
      const m = /certkeeper dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    running.child.stdout!.on('data', look);
    running.child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`certkeeper dashboard exited ${code}:\n${stdout}\n${stderr}`));
    });
  });
  return {
    url,
    running,
    output: () => `${stdout}\n${stderr}`,
    async stop() {
      running.child.kill('SIGINT');
      return running.done;
    },
  };
}
