import type { Command } from 'commander';
import { type AgentStatus, type SyncReport, checkOnce, runUntilStopped, statusOf } from '../../agent/main.js';
import { EXIT, type Output, createOutput, relativeTime } from '../output.js';
import { registerAgentJoin } from './agent-join.js';
import { registerAgentRegistry } from './agent-registry.js';

const EXIT_CODES = `
Exit codes:
  0  agent: stopped by SIGTERM/SIGINT, or with --once every certificate is installed and current
     status: every certificate is installed with more than 24 hours left
  1  agent --once: a certificate was refused, rolled back, replaced by the fallback, or failed
     status: a certificate is expired, has less than 24 hours left, or was never installed
  2  the command could not run: bad usage, an invalid config file, the HTTP-01 or TLS-ALPN-01 port taken,
     an unreadable state file`;

const EXAMPLES = `
Examples:
  certkeeper agent --config /etc/certkeeper/agent.json
  certkeeper agent --config /etc/certkeeper/agent.json --once
  certkeeper agent --config agent.json --http01-listen 127.0.0.1:8402 --fallback-self-signed
  certkeeper agent --config agent.json --tls-alpn01-listen 127.0.0.1:8443   # nginx routes acme-tls/1 here
  certkeeper agent status --config /etc/certkeeper/agent.json --prometheus /var/lib/node_exporter/certkeeper.prom
  certkeeper agent --config /etc/certkeeper/agent.json --once --allow-older site   # go back to an older certificate, once

Registry (operator side, with the stack's flags; see each command's --help):
  certkeeper agent add web-7 --certificates web-7        # prints a one-time join token
  certkeeper agent add edge-12 --labels role=edge
  certkeeper agent list | show NAME | token NAME | remove NAME
Server side, once:
  sudo certkeeper agent join <token>`;

interface AgentOptions {
  config?: string;
  http01Listen?: string;
  tlsAlpn01Listen?: string;
  fallbackSelfSigned?: boolean;
  once?: boolean;
  json?: boolean;
  allowOlder?: string[];
}

interface StatusOptions {
  config: string;
  json?: boolean;
  prometheus?: string;
}

export function registerAgentCommand(program: Command): void {
  const agent = program
    .command('agent')
    .description(
      "Install this server's certificates and keep them current: a registry agent (after agent join) takes what its inbox names, with credentials from its own identity; an agent in direct mode reads the bucket. Verify, install atomically, reload, roll back on failure; optionally answer HTTP-01 and TLS-ALPN-01 challenges. Subcommands manage the registry",
    )
    // Not requiredOption: commander would then demand it before dispatching to `status`.
    .option('--config <path>', 'the agent config file (JSON; see agent/README.md)')
    .option(
      '--http01-listen <host:port>',
      'answer HTTP-01 challenges on this address (overrides http01Listen)',
    )
    .option(
      '--tls-alpn01-listen <host:port>',
      'answer TLS-ALPN-01 challenges (ALPN acme-tls/1) on this address (overrides tlsAlpn01Listen)',
    )
    .option(
      '--fallback-self-signed',
      'write a self-signed certificate when none can be installed and the one on disk is missing or expired',
    )
    .option('--once', 'check every certificate once and exit (no queue, no HTTP-01 or TLS-ALPN-01 responder)')
    .option('--json', 'with --once: print the report as JSON (certificates: name, action, serial, error)')
    .option(
      '--allow-older <certificate>',
      'install this certificate even if it is older than the installed one (never otherwise: an old serial may be revoked); repeatable',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .enablePositionalOptions()
    .addHelpText('after', `${EXIT_CODES}\n${EXAMPLES}`)
    .action(async (options: AgentOptions) => {
      process.exitCode = await runAgent(options);
    });

  agent
    .command('status')
    .description(
      'Show what the agent installed (from its state file) and whether any certificate needs attention',
    )
    .requiredOption('--config <path>', 'the agent config file')
    .option('--json', 'print the status as JSON')
    .option('--prometheus <file>', 'also write the metrics in the node_exporter textfile format to this file')
    .addHelpText('after', EXIT_CODES)
    .action(async (options: StatusOptions) => {
      process.exitCode = await runStatus(options);
    });
  registerAgentRegistry(agent);
  registerAgentJoin(agent);
}

async function runAgent(options: AgentOptions): Promise<number> {
  if (!options.config) {
    process.stderr.write('certkeeper agent: --config <path> is required (the agent config file)\n');
    return EXIT.usage;
  }
  const run = {
    config: options.config,
    http01Listen: options.http01Listen,
    tlsAlpn01Listen: options.tlsAlpn01Listen,
    fallbackSelfSigned: options.fallbackSelfSigned,
    allowOlder: options.allowOlder,
  };
  if (options.once) {
    const report = await checkOnce(run);
    const out = createOutput({ json: options.json });
    out.result(report, () => printReport(out, report));
    return report.certificates.every((c) => c.action === 'installed' || c.action === 'unchanged')
      ? EXIT.ok
      : EXIT.attention;
  }
  await runUntilStopped(run);
  return EXIT.ok;
}

async function runStatus(options: StatusOptions): Promise<number> {
  const now = new Date();
  const status = await statusOf(options.config, now, options.prometheus);
  const out = createOutput({ json: options.json });
  out.result(status, () => printStatus(out, status, now));
  return status.exitCode;
}

function printReport(out: Output, report: SyncReport): void {
  const tone = (action: string) =>
    action === 'installed' || action === 'unchanged' ? 'ok' : action === 'error' ? 'fail' : 'warn';
  out.table(
    report.certificates.map((c) => ({
      name: c.name,
      action: out.paint(c.action, tone(c.action)),
      serial: c.serial ?? '',
    })),
  );
  for (const c of report.certificates) if (c.error) out.line(`${c.name}: ${c.error}`);
}

function printStatus(out: Output, status: AgentStatus, now: Date): void {
  out.table(
    status.certificates.map((c) => ({
      name: c.name,
      status: c.problem ? out.paint(c.problem, 'fail') : out.paint('ok', 'ok'),
      serial: c.serial ?? '',
      expires: relativeTime(c.notAfter, now),
      'last check': relativeTime(c.lastCheck, now) || 'never',
    })),
  );
  for (const c of status.certificates) if (c.lastError) out.line(`${c.name}: last error: ${c.lastError}`);
}
