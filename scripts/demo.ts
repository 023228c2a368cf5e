/**
 * `npm run demo`: the main job on local peers. Declares two certificates, runs one
 * scheduler tick and the issuer through the real handlers, and prints what was issued.
 * Run through `tsx scripts/peers.ts run -- tsx scripts/demo.ts`, which starts the peers
 * and stops them afterwards.
 */
import { randomBytes } from 'node:crypto';
import { declareCertificate } from '../shared/usecases/declare-certificates.js';
import { startHttp01Responder } from '../shared/challenges/http01/responder.js';
import { DynamoInventory } from '../shared/inventory/dynamodb.js';
import { certificateEventSchema } from '../shared/model/event.js';
import { parseJson } from '../shared/model/json.js';
import { S3ObjectStore } from '../shared/store/s3-store.js';
import { receiveAll, runTick } from './stand-in-stack/pipeline.js';
import { createStandInStack } from './stand-in-stack/stack.js';

const DEMO_CERTIFICATES = [
  { name: 'ip-127-0-0-1', identifiers: ['127.0.0.1'] },
  { name: 'example-test', identifiers: ['example.test', '*.example.test'], profile: 'classic' },
];

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the demo with npm run demo, which starts the local peers`);
  return value;
}

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await createStandInStack(
    {
      motoEndpoint: required('MOTO_ENDPOINT'),
      dynamodbEndpoint: required('DYNAMODB_ENDPOINT'),
      directoryUrl: required('PEBBLE_DIRECTORY_URL'),
      acmeCaPath: required('PEBBLE_CA_CERT'),
      dnsServer: required('TEST_DNS_SERVER'),
    },
    { id: `demo-${randomBytes(3).toString('hex')}`, zones: ['example.test'] },
  );
  // The handlers read their configuration from the environment, as in Lambda.
  Object.assign(process.env, stack.env, {
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });

  // Pebble validates http-01 by connecting to 127.0.0.1 on its http port; the responder
  // serves the tokens the issuer writes to S3 (the server agent does this in production).
  const responder = await startHttp01Responder({
    store: new S3ObjectStore(stack.clients.s3, { bucket: stack.bucket }),
    host: '127.0.0.1',
    port: Number(required('PEBBLE_HTTP_PORT')),
  });
  try {
    const inventory = new DynamoInventory({ client: stack.clients.dynamodb, tableName: stack.table });
    for (const certificate of DEMO_CERTIFICATES) await declareCertificate(inventory, certificate);
    console.log(
      `declared ${DEMO_CERTIFICATES.length} certificates; running one scheduler tick and the issuer\n`,
    );

    const tick = await runTick(stack.clients.sqs, stack.queueUrl);
    const events = (await receiveAll(stack.clients.sqs, stack.tapQueueUrl)).map((m) =>
      parseJson(m.Body ?? '', certificateEventSchema, {
        what: 'event on the tap queue',
        fix: 'the issuer publishes events with SnsPublisher; this one is not its shape',
      }),
    );

    const rows = await Promise.all(
      DEMO_CERTIFICATES.map(async ({ name }) => {
        const record = await inventory.get(name);
        const current = record?.state.current;
        return {
          name,
          identifiers: record?.spec.identifiers.map((i) => i.value).join(', ') ?? '',
          profile: record?.spec.profile ?? '(CA default)',
          serial: current?.serial ?? `(none: ${record?.state.lastError?.detail ?? 'not issued'})`,
          notAfter: current?.notAfter ?? '',
          manifest: current ? `s3://${stack.bucket}/${current.manifestKey}` : '',
        };
      }),
    );
    printTable(rows);
    console.log(
      `\nscheduler: ${tick.scheduled.checked} checked, ${tick.scheduled.enqueued.length} queued; ` +
        `issuer: ${tick.issuer.batchItemFailures.length} failed messages; ` +
        `events: ${events.map((e) => `${e.type} ${e.certificate}`).join(', ') || 'none'}`,
    );
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (rows.some((r) => !r.notAfter)) process.exitCode = 1;
  } finally {
    await responder.close();
  }
}

function printTable(rows: Record<string, string>[]): void {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(columns.map((c) => row[c] ?? '')));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
