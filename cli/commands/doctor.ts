import type { Command } from 'commander';
import { ValidationError } from '../../shared/model/errors.js';
import type { CheckResult } from '../doctor/check.js';
import { type StackFlags, stackEnv } from '../doctor/env.js';
import { DEFAULT_HTTP01_PORT } from '../doctor/http01.js';
import { runDoctor } from '../doctor/run.js';
import { EXIT, EXIT_CODES_HELP, createOutput } from '../output.js';

interface DoctorFlags extends StackFlags {
  json?: boolean;
  zone: string[];
  http01Port: string;
  timeout: string;
}

const DETAILS = `
Checks: the CA directory (TLS, profiles, ARI), the stored ACME account, this machine's
clock against the CA's, a hosted zone for every dns-01 certificate (and --zone), the
bucket, the table, the scheduler heartbeat, the events topic's subscribers, and for
http-01 certificates a probe token fetched from http://<name>:<port>/.well-known/acme-challenge/.
The stack comes from CERTKEEPER_BUCKET, CERTKEEPER_TABLE, CERTKEEPER_TOPIC_ARN,
CERTKEEPER_DIRECTORY_URL, CERTKEEPER_ACME_CA_PEM, CERTKEEPER_CONTACT (flags override).
${EXIT_CODES_HELP.replace('  0  done, and everything it looked at is healthy', '  0  every check ok (warnings allowed)')}`;

export function register(program: Command): void {
  program
    .command('doctor')
    .description(
      'Check what issuance depends on (CA, account, clock, zones, bucket, table, scheduler, topic, http-01) and say how to fix what is broken',
    )
    .option('--json', 'print { checks: [{ id, status, message, fix? }], summary }')
    .option('--bucket <name>', 'the certificates bucket (CERTKEEPER_BUCKET)')
    .option('--table <name>', 'the inventory table (CERTKEEPER_TABLE)')
    .option('--queue-url <url>', 'the issuer queue (CERTKEEPER_QUEUE_URL)')
    .option('--topic-arn <arn>', 'the events topic (CERTKEEPER_TOPIC_ARN)')
    .option('--region <region>', 'the stack region (AWS_REGION)')
    .option('--zone <domain>', 'also check that this domain has a hosted zone (repeatable)', collect, [])
    .option('--http01-port <port>', 'port of the http-01 probe', String(DEFAULT_HTTP01_PORT))
    .option('--timeout <seconds>', 'bound on each check', '10')
    .addHelpText('after', DETAILS)
    .action(async (flags: DoctorFlags) => {
      const out = createOutput({ json: flags.json });
      const report = await runDoctor({
        env: stackEnv(flags),
        zones: flags.zone,
        http01Port: integer('--http01-port', flags.http01Port, 1, 65_535),
        timeoutMs: integer('--timeout', flags.timeout, 1, 600) * 1000,
      });
      out.result(report, () => {
        for (const check of report.checks) printCheck(out, check);
        const { ok, warn, fail } = report.summary;
        out.line(`\n${ok} ok, ${warn} warn, ${fail} fail`);
      });
      process.exitCode = report.summary.fail > 0 ? EXIT.attention : EXIT.ok;
    });
}

function printCheck(out: ReturnType<typeof createOutput>, check: CheckResult): void {
  out.line(`${out.paint(check.status.padEnd(4), check.status)}  ${check.id}: ${check.message}`);
  if (check.fix && check.status !== 'ok') out.line(`      fix: ${check.fix}`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function integer(flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(flag, `is ${raw}`, `give a whole number from ${min} to ${max}`);
  }
  return value;
}
