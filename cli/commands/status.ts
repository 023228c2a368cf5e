/**
 * `certkeeper status`: one certificate in full (spec, state, ARI, last error, manifest, its
 * delivery targets), or without a name every certificate's delivery targets (the fleet view).
 */
import type { Command } from 'commander';
import { CertkeeperError } from '../../shared/model/errors.js';
import { dueReason } from '../../shared/renewal/policy.js';
import { certificatePrefix } from '../../shared/store/layout.js';
import type { Manifest } from '../../shared/store/store.js';
import { action, connect, requireRecord, STACK_HELP, type StackFlags, stackOptions } from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP, relativeTime } from '../output.js';
import { summarize, tone } from '../summary.js';
import { buildFleetSnapshot } from '../fleet-view/build.js';
import { stackSource } from '../fleet-view/open.js';
import { targetRows } from '../fleet-view/targets.js';
import { fleetNeedsAttention, printFleet, readFleetView } from './fleet-status.js';

interface StatusOptions extends StackFlags {
  json?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('status')
    .argument('[name]', 'one certificate (all of them, as the fleet view, when omitted)')
    .description(
      "Without a name: every certificate's delivery targets (agents, probed endpoints, ACM regions), the serial each has, how far behind and how quiet it is. With a name: everything about one certificate: spec, state, ARI window, last error, attempts, next attempt, the bucket's manifest and its targets",
    )
    .option(
      '--json',
      'print the status as JSON (without a name: the fleet snapshot, the document `certkeeper dashboard` shows)',
    );
  stackOptions(command)
    .addHelpText(
      'after',
      `${STACK_HELP}\n${EXIT_CODES_HELP}\n  (status exits 1 when the certificate has failed attempts, is failing or expired, or
   when a delivery target is behind, silent, unreachable or serves another certificate)`,
    )
    .action(action(runStatus));
}

async function runStatus(name: string | undefined, options: StatusOptions): Promise<number> {
  if (name === undefined) return runFleetStatus(options);
  const out = createOutput({ json: options.json });
  const ctx = await connect(options);
  const record = await requireRecord(ctx.inventory, name);
  const now = ctx.clock.now();
  const summary = summarize(record, now);
  const { spec, state } = record;
  // A manifest that cannot be read is reported, not fatal: the inventory part still helps.
  let manifest: Manifest | undefined;
  let manifestError: string | undefined;
  try {
    manifest = await ctx.store.getManifest(name);
  } catch (err) {
    if (err instanceof CertkeeperError && err.code === 'unreachable') throw err;
    manifestError = err instanceof CertkeeperError ? err.describe() : String(err);
  }
  const view = await readFleetView(ctx);
  const targets = targetRows(view, now, name);
  const result = {
    ...summary,
    spec,
    state,
    dueReason: dueReason(spec, state, now) ?? null,
    ari: state.ari ?? null,
    lastError: state.lastError ?? null,
    nextAttemptAt: state.nextAttemptAt ?? null,
    manifest: manifest ?? null,
    manifestError: manifestError ?? null,
    targets,
  };
  out.result(result, () => {
    const when = (iso: string | undefined | null) => (iso ? `${iso} (${relativeTime(iso, now)})` : '-');
    out.line(`${name}: ${out.paint(state.status, tone(summary))}`);
    out.line(`  identifiers    ${summary.identifiers.join(', ')}`);
    out.line(`  challenge      ${spec.challenge}${spec.hostedZoneId ? ` (zone ${spec.hostedZoneId})` : ''}`);
    out.line(`  profile        ${spec.profile ?? 'CA default'}`);
    out.line(`  key type       ${spec.keyType}`);
    if (spec.renewBefore) out.line(`  renew before   ${spec.renewBefore}`);
    if (spec.renewBeforePercentage)
      out.line(`  renew before   ${spec.renewBeforePercentage}% of the lifetime`);
    out.line(`  serial         ${state.current?.serial ?? '- (never issued)'}`);
    if (state.current) {
      if (state.current.ca) out.line(`  issued by      ${state.current.ca}`);
      out.line(`  not before     ${state.current.notBefore}`);
      out.line(`  not after      ${when(state.current.notAfter)}`);
    }
    out.line(`  renewal        ${when(summary.renewalAt)}${state.reissue ? ' (reissue requested)' : ''}`);
    out.line(
      `  next check     ${when(summary.dueAt)}${result.dueReason ? ` (due now: ${result.dueReason})` : ''}`,
    );
    if (state.ari) {
      const a = state.ari;
      out.line(
        `  ARI window     ${a.windowStart && a.windowEnd ? `${a.windowStart} .. ${a.windowEnd}` : '- (not polled yet)'}`,
      );
      if (a.selectedAt) out.line(`  ARI selected   ${when(a.selectedAt)}`);
      if (a.explanationURL) out.line(`  ARI why        ${a.explanationURL}`);
      out.line(
        `  ARI next poll  ${when(a.nextPollAt)}${a.lastError ? ` (last poll failed: ${a.lastError})` : ''}`,
      );
    }
    out.line(
      `  attempts       ${state.attempts > 0 ? out.paint(String(state.attempts), 'fail') : '0'} failed in a row`,
    );
    if (state.nextAttemptAt) out.line(`  next attempt   ${when(state.nextAttemptAt)}`);
    if (state.caAttempt && state.attempts > 0) {
      out.line(`  trying CA      ${state.caAttempt.name} (${state.caAttempt.failures} of its own failures)`);
    }
    if (state.lastError) {
      const e = state.lastError;
      const at = e.ca ? ` at ${e.ca}` : '';
      out.line(`  last error     ${e.at}${at}: ${e.type ? `${e.type}: ` : `${e.code}: `}${e.detail}`);
    }
    if (state.lastSuccessAt) out.line(`  last success   ${state.lastSuccessAt}`);
    if (manifest) {
      out.line(`  manifest       s3://${ctx.bucket}/${certificatePrefix(name)}current.json`);
      out.line(`    serial       ${manifest.serial}`);
      if (manifest.ca) out.line(`    issued by    ${manifest.ca}`);
      out.line(`    validity     ${manifest.notBefore} .. ${manifest.notAfter}`);
      out.line(`    issued       ${manifest.issuedAt}`);
      for (const [file, entry] of Object.entries(manifest.files)) {
        out.line(`    ${file.padEnd(12)} sha256 ${entry.sha256}`);
      }
    } else {
      out.line(
        `  manifest       ${manifestError ? out.paint(manifestError, 'fail') : '- (none in the bucket)'}`,
      );
    }
    if (spec.delivery) {
      out.line('  delivery targets');
      printFleet(out, targets, view, now);
    }
  });
  return summary.needsAttention || fleetNeedsAttention(targets) ? EXIT.attention : EXIT.ok;
}

/**
 * Every certificate's delivery targets, from the fleet view of the last tick. `--json` prints
 * the fleet snapshot (cli/fleet-view/): the document the dashboard's page reads.
 */
async function runFleetStatus(options: StatusOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  const ctx = await connect(options);
  const source = stackSource(ctx);
  const reading = await source.read();
  const now = ctx.clock.now();
  const snapshot = buildFleetSnapshot(reading, source, now);
  const rows = targetRows(reading.view, now);
  out.result(snapshot, () =>
    printFleet(
      out,
      rows,
      reading.view,
      now,
      reading.records.filter((r) => !r.spec.delivery && r.state.status !== 'retired'),
    ),
  );
  return fleetNeedsAttention(rows) || snapshot.certificates.some((c) => c.needsAttention)
    ? EXIT.attention
    : EXIT.ok;
}
