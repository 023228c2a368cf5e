import type { Command } from 'commander';
import { action, connect, STACK_HELP, type StackFlags, stackOptions } from '../context.js';
import type { CheckResult } from '../doctor/check.js';
import { DEFAULT_HTTP01_PORT } from '../doctor/http01.js';
import { runDoctor } from '../doctor/run.js';
import { DEFAULT_TLS_ALPN01_PORT } from '../doctor/tlsalpn01.js';
import { integerFlag } from '../flags.js';
import { EXIT, createOutput } from '../output.js';

interface DoctorFlags extends StackFlags {
  json?: boolean;
  zone: string[];
  http01Port: string;
  tlsAlpn01Port: string;
  timeout: string;
}

const DETAILS = `
Checks: the CA directory (TLS, profiles, ARI), the stored ACME account, this machine's
clock against the CA's, a hosted zone for every dns-01 certificate (and --zone; a CNAME
at _acme-challenge.<name> is followed, and a name with no zone gets the CNAME to create), the
bucket, the table, the scheduler heartbeat, the events topic's subscribers, and for
http-01 certificates a probe token fetched from http://<name>:<port>/.well-known/acme-challenge/,
for tls-alpn-01 certificates a probe validation certificate asked for at <name>:<port> as a
CA asks (ALPN acme-tls/1, SNI) and checked as a CA checks it (RFC 8737). A probe goes
through the bucket like a real order's and is removed afterwards; a tls-alpn-01 name whose
validation certificate is already stored (an order in progress) is not probed. For
certificates with DNS names, the names' CAA records (RFC 8659, RFC 8657 validationmethods
and accounturi) are read as the issuer reads them: a warning when only a fallback CA may
issue, a failure when no configured CA may.
The CA's certificate and the account's contact come from CERTKEEPER_ACME_CA_PEM and
CERTKEEPER_CONTACT, as in the issuer.

Exit codes:
  0  every check ok (warnings allowed)
  1  a check failed: its line says why and how to fix it
  2  bad usage or configuration (a missing bucket, table or directory URL); nothing checked
`;

export function register(program: Command): void {
  const command = program
    .command('doctor')
    .description(
      'Check what issuance depends on (CA, account, clock, zones, bucket, table, scheduler, topic, http-01, tls-alpn-01, CAA) and say how to fix what is broken',
    )
    .option('--json', 'print { checks: [{ id, status, message, fix? }], summary }');
  // The queue is not checked, but the flag is accepted like every operator command's.
  stackOptions(command, ['queue', 'topic', 'ca'])
    .option('--zone <domain>', 'also check that this domain has a hosted zone (repeatable)', collect, [])
    .option('--http01-port <port>', 'port of the http-01 probe', String(DEFAULT_HTTP01_PORT))
    .option(
      '--tls-alpn01-port <port>',
      'port of the tls-alpn-01 probe (the CA uses 443)',
      String(DEFAULT_TLS_ALPN01_PORT),
    )
    .option('--timeout <seconds>', 'bound on each check', '10')
    .addHelpText('after', `${DETAILS}${STACK_HELP}`)
    .action(
      action(async (flags: DoctorFlags) => {
        const options = {
          zones: flags.zone,
          http01Port: integerFlag('--http01-port', flags.http01Port, 1, 65_535),
          tlsAlpn01Port: integerFlag('--tls-alpn01-port', flags.tlsAlpn01Port, 1, 65_535),
          timeoutMs: integerFlag('--timeout', flags.timeout, 1, 600) * 1000,
        };
        // Only the CA is required beyond bucket and table: a missing topic is a finding.
        const report = await runDoctor((await connect(flags, ['ca'])).runtime, options);
        const out = createOutput({ json: flags.json });
        out.result(report, () => {
          for (const check of report.checks) printCheck(out, check);
          const { ok, warn, fail } = report.summary;
          out.line(`\n${ok} ok, ${warn} warn, ${fail} fail`);
        });
        return report.summary.fail > 0 ? EXIT.attention : EXIT.ok;
      }),
    );
}

function printCheck(out: ReturnType<typeof createOutput>, check: CheckResult): void {
  out.line(`${out.paint(check.status.padEnd(4), check.status)}  ${check.id}: ${check.message}`);
  if (check.fix && check.status !== 'ok') out.line(`      fix: ${check.fix}`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
