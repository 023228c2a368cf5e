/**
 * `certkeeper dashboard`: the fleet at a glance in a browser. A read-only page served on
 * 127.0.0.1 by this process, with the operator's own credentials: no hosted endpoint, no
 * new IAM, nothing written. The page polls the same document `certkeeper status --json`
 * prints (cli/fleet-view/), and shows it as an expiry timeline, a fleet grid, the agents
 * and the recent events.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { ValidationError } from '../../shared/model/errors.js';
import { STACK_HELP, type StackFlags, action, connect, readStackOutputs, stackOptions } from '../context.js';
import { pageAssets } from '../dashboard/assets.js';
import { startDashboardServer } from '../dashboard/server.js';
import { snapshotService } from '../dashboard/snapshots.js';
import { localSource, stackSource } from '../fleet-view/open.js';
import type { FleetSource, SourceInfo } from '../fleet-view/source.js';
import { integerFlag } from '../flags.js';
import { EXIT, terminalSafe } from '../output.js';

interface DashboardFlags extends StackFlags {
  out?: string;
  port?: string;
  open?: boolean;
  refresh: string;
}

const DETAILS = `
The page (one HTML file, its script and stylesheet, carried by certkeeper itself: it works
offline) shows an expiry timeline (each certificate's lifetime, now, its renewal time from
ARI or the policy, its state and CA), the fleet grid (every agent, probed endpoint and ACM
region per certificate: installed and served serial against the current one, health, how
long it has lacked the current serial, last report, last error), the agents, and the recent
events; filters by name, label, state, CA, agent and health; a certificate's detail with
its history of serials and its last ACME problem with the fix. It polls the same JSON that
\`certkeeper status --json\` prints, at /api/snapshot.

It listens on 127.0.0.1 only and answers GET only. A stack it cannot reach, or credentials
that are refused, show on the page with the fix (and it keeps trying); Ctrl-C stops it.

Local mode (--out DIR): the certificates issued into DIR, as \`certkeeper list --out DIR\`
reads them; the stack flags are not used.

Examples:
  certkeeper dashboard --stack certkeeper --open
  certkeeper dashboard --bucket my-certs --table my-inventory --port 8443
  certkeeper dashboard --out /etc/certkeeper/local

Exit codes:
  0  stopped with Ctrl-C (or SIGTERM)
  2  bad usage or configuration: --port in use, a missing --table/--bucket, no such DIR`;

export function register(program: Command): void {
  const command = program
    .command('dashboard')
    .description(
      'Serve a read-only page on 127.0.0.1 with the fleet at a glance: expiry timeline, fleet grid, agents, recent events',
    )
    .option('--out <dir>', 'local mode: the certificates issued into this directory')
    .option('--port <port>', 'the port on 127.0.0.1 (default, or 0: a free one)')
    .option('--open', 'open the page in the browser')
    .option('--refresh <seconds>', 'how often the page reads the fleet again', '15');
  stackOptions(command, [], { readOutputs: false })
    .addHelpText('after', `${DETAILS}\n${STACK_HELP}`)
    .action(action(runDashboard));
}

async function runDashboard(flags: DashboardFlags): Promise<number> {
  const port = flags.port === undefined ? 0 : integerFlag('--port', flags.port, 0, 65_535);
  const refreshSeconds = integerFlag('--refresh', flags.refresh, 2, 3600);
  const { describe, open } = await sourceOf(flags);
  const service = snapshotService({ open, describe, refreshMs: refreshSeconds * 1000 });
  const server = await startDashboardServer({ service, assets: await pageAssets(), port, refreshSeconds });
  process.stdout.write(
    `certkeeper dashboard: ${server.url}\n  reading ${describe.kind === 'local' ? 'the local directory ' : ''}${describe.location}, read-only; Ctrl-C stops it\n`,
  );
  // Said on the terminal too, not only on the page.
  const first = await service.snapshot();
  if (first.status !== 200) {
    const { error } = JSON.parse(first.json) as { error: { message: string; fix: string | null } };
    process.stderr.write(
      `certkeeper: ${terminalSafe(`the fleet could not be read: ${error.message}${error.fix ? `. Fix: ${error.fix}` : ''}`)} (the page says so too, and it keeps trying)\n`,
    );
  }
  if (flags.open) openBrowser(server.url);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  service.close();
  await server.close();
  return EXIT.ok;
}

/**
 * The source, opened on first use. Usage errors (no such DIR, a missing --table) stop the
 * command before anything is served; a stack that cannot be reached is the page's to show.
 */
async function sourceOf(
  flags: DashboardFlags,
): Promise<{ describe: SourceInfo; open: () => Promise<FleetSource> }> {
  if (flags.out !== undefined) {
    const source = await localSource(flags.out);
    const isDir = await stat(source.location).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) {
      throw new ValidationError(
        '--out',
        `${source.location} is not a directory`,
        'give the directory certificates were issued into (certkeeper issue ... --out DIR)',
      );
    }
    return { describe: source, open: async () => source };
  }
  const stackName = flags.stack ?? process.env.CERTKEEPER_STACK;
  if (!stackName) {
    // Checks the flags now (a missing --table is exit 2); no request is made yet.
    const ctx = await connect(flags);
    const source = stackSource(ctx);
    return { describe: source, open: async () => source };
  }
  return {
    describe: { kind: 'stack', location: `stack ${stackName}` },
    open: async () => stackSource(await connect({ ...flags, ...(await readStackOutputs(flags)) })),
  };
}

/** The desktop's own opener; when there is none, the URL printed above is enough. */
function openBrowser(url: string): void {
  const opener =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.once('error', () =>
    process.stderr.write(`certkeeper: could not start ${opener}; open ${url} yourself\n`),
  );
  child.unref();
}
