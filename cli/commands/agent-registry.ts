/**
 * `certkeeper agent add | token | remove | list | show`: the registry, managed at run time
 * with the operator's credentials (the stack's table, or local mode's files with --out).
 * No deploy: agents are data.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { FileAgentRegistry } from '../../shared/agents/file.js';
import type { AgentRegistry } from '../../shared/agents/registry.js';
import type { Inventory } from '../../shared/inventory/inventory.js';
import {
  type AgentRecord,
  describeSelector,
  parseAgentName,
  parseSelector,
  selects,
} from '../../shared/model/agent.js';
import { type Clock, systemClock } from '../../shared/model/clock.js';
import { NotFoundError, ValidationError } from '../../shared/model/errors.js';
import { parseLabelPairs } from '../../shared/model/labels.js';
import { parseDuration } from '../../shared/model/spec.js';
import { publicAgentRecord } from '../../shared/usecases/agent-identity.js';
import { addAgent, issueToken, removeAgent } from '../../shared/usecases/manage-agents.js';
import {
  type OperatorContext,
  STACK_HELP,
  type StackFlags,
  action,
  connect,
  stackOptions,
} from '../context.js';
import { EXIT, EXIT_CODES_HELP, type Output, createOutput, relativeTime } from '../output.js';

interface RegistryFlags extends StackFlags {
  out?: string;
  json?: boolean;
}

interface AddFlags extends RegistryFlags {
  certificates?: string;
  labels?: string[];
  tokenTtl?: string;
}

/** What every registry command needs: the registry and the inventory, from the stack or a directory. */
interface Registry {
  registry: AgentRegistry;
  inventory: Inventory;
  clock: Clock;
  ctx: OperatorContext | undefined;
}

async function openRegistry(flags: RegistryFlags, needs: ('fleet' | 'enrol')[]): Promise<Registry> {
  if (flags.out) {
    const { openLocalDir } = await import('../../composition/local.js');
    const dir = openLocalDir(flags.out);
    return {
      registry: new FileAgentRegistry({ dir: join(dir.root, 'registry') }),
      inventory: dir.inventory,
      clock: systemClock,
      ctx: undefined,
    };
  }
  const ctx = await connect(flags, needs);
  return { registry: ctx.registry, inventory: ctx.inventory, clock: ctx.clock, ctx };
}

const LOCAL_FLAG = '--out <dir>';
const LOCAL_HELP =
  'a local-mode directory (certkeeper issue --out) instead of the stack: the registry in its files; no tokens (local mode has no identity endpoint)';

export function registerAgentRegistry(agent: Command): void {
  const add = agent
    .command('add')
    .argument('<name>', 'the agent name (lower-case letters, digits, hyphens), e.g. web-7')
    .description(
      'Add an agent to the registry and print its one-time join token (run certkeeper agent join <token> on the server)',
    )
    .option('--certificates <names>', 'certificates it receives, comma-separated')
    .option(
      '--labels <key=value>',
      'it receives every certificate with these labels, now and later; repeatable',
      collect,
      [],
    )
    .option('--token-ttl <duration>', 'how long the token may be used: 30m, 2h, 1d (at most 7d)', '1h')
    .option(LOCAL_FLAG, LOCAL_HELP)
    .option('--json', 'print the result as JSON (the token included)');
  stackOptions(add, ['enrol'])
    .addHelpText(
      'after',
      `${STACK_HELP}\n${EXIT_CODES_HELP}

The token is printed once and stored nowhere (the registry keeps its SHA-256): hand it to
the server over a channel you trust; it works once, for this agent, until it expires.

Examples:
  certkeeper agent add web-7 --certificates web-7 --stack Certkeeper
  certkeeper agent add edge-12 --labels role=edge --token-ttl 1d --stack Certkeeper`,
    )
    .action(action(runAdd));

  const token = agent
    .command('token')
    .argument('<name>', 'an agent in the registry')
    .description(
      'Print a new one-time join token for an agent (a new server, a lost token, a re-enrolment; an unused earlier token stops working)',
    )
    .option('--token-ttl <duration>', 'how long the token may be used: 30m, 2h, 1d (at most 7d)', '1h')
    .option('--json', 'print the result as JSON');
  stackOptions(token, ['enrol'])
    .addHelpText('after', `${STACK_HELP}\n${EXIT_CODES_HELP}`)
    .action(action(runToken));

  const remove = agent
    .command('remove')
    .argument('<name>', 'an agent in the registry')
    .description(
      'Remove an agent: its identity is revoked (the CRL follows within one scheduler interval), its inbox and deliveries are deleted, its reports are ignored; the record stays, shown as removed',
    )
    .option(LOCAL_FLAG, LOCAL_HELP)
    .option('--json', 'print the result as JSON');
  stackOptions(remove, ['fleet'])
    .addHelpText('after', `${STACK_HELP}\n${EXIT_CODES_HELP}`)
    .action(action(runRemove));

  const list = agent
    .command('list')
    .description('List the registry: every agent, what it receives, its identity and its last report')
    .option(LOCAL_FLAG, LOCAL_HELP)
    .option('--json', 'print the agents as JSON');
  stackOptions(list, ['fleet'])
    .addHelpText('after', `${STACK_HELP}\n${EXIT_CODES_HELP}`)
    .action(action(runList));

  const show = agent
    .command('show')
    .argument('<name>', 'an agent in the registry')
    .description(
      'Show one agent: selector, the certificates it receives now, identity, enrolment, last report',
    )
    .option(LOCAL_FLAG, LOCAL_HELP)
    .option('--json', 'print the agent as JSON');
  stackOptions(show, ['fleet'])
    .addHelpText('after', `${STACK_HELP}\n${EXIT_CODES_HELP}`)
    .action(action(runShow));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function runAdd(name: string, flags: AddFlags): Promise<number> {
  const out = createOutput({ json: flags.json });
  parseAgentName(name, '<name>');
  const selector = parseSelector(
    {
      certificates: (flags.certificates ?? '')
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
      labels: parseLabelPairs(flags.labels ?? [], '--labels'),
    },
    'selector',
  );
  const { registry, inventory, clock, ctx } = await openRegistry(flags, ['enrol']);
  const endpoint = ctx
    ? requireEnrolment(ctx)
    : { url: 'http://127.0.0.1/local-mode-has-no-identity-endpoint', region: 'local' };
  const result = await addAgent({ registry, inventory, clock }, endpoint, {
    name,
    selector,
    tokenTtlMs: parseDuration(flags.tokenTtl ?? '1h', '--token-ttl'),
  });
  const token = ctx ? result.token : undefined;
  out.result(
    {
      agent: publicAgentRecord(result.record),
      ...(token ? { token, expiresAt: result.expiresAt } : {}),
      warnings: result.warnings,
    },
    () => {
      out.line(`${out.paint('added', 'ok')} agent ${name}: ${describeSelector(selector)}`);
      for (const warning of result.warnings) out.line(`${out.paint('warning', 'warn')}: ${warning}`);
      if (token) printToken(out, name, token, result.expiresAt);
      else out.line('  local mode: no join token (there is no identity endpoint without the stack)');
    },
  );
  return result.warnings.length ? EXIT.attention : EXIT.ok;
}

async function runToken(name: string, flags: AddFlags): Promise<number> {
  const out = createOutput({ json: flags.json });
  const ctx = await connect(flags, ['enrol']);
  const result = await issueToken({ registry: ctx.registry, clock: ctx.clock }, requireEnrolment(ctx), {
    name,
    tokenTtlMs: parseDuration(flags.tokenTtl ?? '1h', '--token-ttl'),
  });
  out.result({ agent: name, token: result.token, expiresAt: result.expiresAt }, () =>
    printToken(out, name, result.token, result.expiresAt),
  );
  return EXIT.ok;
}

function printToken(out: Output, name: string, token: string, expiresAt: string): void {
  out.line(`one-time join token for ${name} (valid until ${expiresAt}):`);
  out.line('');
  out.line(`  ${token}`);
  out.line('');
  out.line('on the server, after installing certkeeper:');
  out.line(`  sudo certkeeper agent join ${token.slice(0, 12)}...`);
}

async function runRemove(name: string, flags: RegistryFlags): Promise<number> {
  const out = createOutput({ json: flags.json });
  const { registry, clock, ctx } = await openRegistry(flags, ['fleet']);
  const { record, changed } = await removeAgent(
    {
      registry,
      clock,
      ...(ctx?.fleet ? { inboxes: ctx.fleet.inboxes, reports: ctx.fleet.reports } : {}),
      ...(ctx ? { objects: ctx.runtime.objects } : {}),
    },
    name,
  );
  out.result({ agent: publicAgentRecord(record), changed }, () => {
    if (!changed) {
      out.line(`agent ${name} was already removed (at ${record.removedAt})`);
      return;
    }
    out.line(`${out.paint('removed', 'ok')} agent ${name}`);
    out.line('  its inbox and deliveries are deleted, its reports ignored, its identity refused at renewal;');
    out.line('  the CRL revoking it goes to IAM Roles Anywhere at the next scheduler tick, and its last');
    out.line('  credentials expire within 15 minutes after that');
  });
  return EXIT.ok;
}

interface AgentRow {
  record: AgentRecord;
  receives: string[];
  lastReportAt: string | undefined;
}

async function rows(flags: RegistryFlags): Promise<AgentRow[]> {
  const { registry, inventory, ctx } = await openRegistry(flags, ['fleet']);
  const [agents, records, reports] = await Promise.all([
    registry.list(),
    inventory.list(),
    ctx?.fleet?.reports.list(() => true),
  ]);
  return agents.map((record) => ({
    record,
    receives: records
      .filter(
        (r) =>
          r.state.status !== 'retired' &&
          selects(record.selector, { name: r.spec.name, labels: r.spec.labels }),
      )
      .map((r) => r.spec.name),
    lastReportAt: reports?.reports.get(record.name)?.at,
  }));
}

const statusTone = (status: AgentRecord['status']) =>
  status === 'active' ? 'ok' : status === 'pending' ? 'warn' : 'fail';

async function runList(flags: RegistryFlags): Promise<number> {
  const out = createOutput({ json: flags.json });
  const all = await rows(flags);
  const now = new Date();
  out.result(
    all.map((r) => ({ ...publicAgentRecord(r.record), receives: r.receives, lastReportAt: r.lastReportAt })),
    () =>
      out.table(
        all.map((r) => ({
          name: r.record.name,
          status: out.paint(r.record.status, statusTone(r.record.status)),
          selector: describeSelector(r.record.selector),
          receives: String(r.receives.length),
          identity: r.record.identity ? `until ${relativeTime(r.record.identity.notAfter, now)}` : '',
          'last report': r.lastReportAt ? relativeTime(r.lastReportAt, now) : 'never',
        })),
      ),
  );
  return EXIT.ok;
}

async function runShow(name: string, flags: RegistryFlags): Promise<number> {
  const out = createOutput({ json: flags.json });
  parseAgentName(name, '<name>');
  const row = (await rows(flags)).find((r) => r.record.name === name);
  if (!row)
    throw new NotFoundError(
      `agent ${name} is not in the registry`,
      'certkeeper agent list shows the agents there are',
    );
  const r = row.record;
  const now = new Date();
  out.result({ ...publicAgentRecord(r), receives: row.receives, lastReportAt: row.lastReportAt }, () => {
    out.line(
      `agent ${r.name}: ${out.paint(r.status, statusTone(r.status))} (${r.source === 'config' ? 'declared in the deployment config' : 'added with agent add'})`,
    );
    out.line(`  selector: ${describeSelector(r.selector)}`);
    out.line(`  receives now: ${row.receives.join(', ') || 'nothing'}`);
    if (r.identity)
      out.line(
        `  identity: serial ${r.identity.serial}, valid until ${r.identity.notAfter} (${relativeTime(r.identity.notAfter, now)})`,
      );
    if (r.enrolment) {
      out.line(
        `  enrolment token: ${r.enrolment.usedAt ? `used ${r.enrolment.usedAt}` : `unused, expires ${r.enrolment.expiresAt}`}`,
      );
    }
    if (r.removedAt) out.line(`  removed: ${r.removedAt}`);
    out.line(`  last report: ${row.lastReportAt ? relativeTime(row.lastReportAt, now) : 'never'}`);
  });
  return EXIT.ok;
}

function requireEnrolment(ctx: OperatorContext): { url: string; region: string } {
  if (!ctx.enrolment) {
    throw new ValidationError(
      '--enrol-url',
      'the identity endpoint is not known',
      'pass --stack NAME (its output AgentEnrolmentUrl), --enrol-url, or set CERTKEEPER_ENROL_URL',
    );
  }
  return ctx.enrolment;
}
