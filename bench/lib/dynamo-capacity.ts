/**
 * DynamoDB's own capacity accounting for the requests the issuer sends: a proxy in front of
 * DynamoDB Local that adds `ReturnConsumedCapacity: INDEXES` to every request, forwards it,
 * and records the units DynamoDB Local charged (table and due index apart) under a label
 * saying which step of a renewal sent it. DynamoDB Local applies the service's rules: a
 * write costs ceil(item KB) WRU (the larger of the item before and after), a transaction
 * twice that per item, and an index write the projected item's size (two writes when its
 * key, dueAt, moves: the old entry is deleted, the new one put). Used by bench/cost.ts only;
 * the signature is not checked by DynamoDB Local, so rewriting the body is harmless there.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface CapacityLine {
  calls: number;
  tableWru: number;
  indexWru: number;
  rru: number;
  /** Reads: the certificate item's size (DynamoDB's rule); writes: the state attribute's. */
  bytes: number;
  sized: number;
}

export interface CapacityRecorder {
  /** Endpoint to hand the issuer as AWS_ENDPOINT_URL_DYNAMODB. */
  endpoint: string;
  lines: Map<string, CapacityLine>;
  close(): Promise<void>;
}

export type Json = Record<string, unknown>;
/** Attribute values as they travel (JSON): B is base64. */
type Attr = { S?: string; N?: string; B?: string; BOOL?: boolean; NULL?: boolean };

/** DynamoDB's item size: attribute names plus values (strings in UTF-8; numbers roughly 1 byte per 2 digits + 1). */
export function itemSize(item: Record<string, Attr>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name);
    if (value.S !== undefined) bytes += Buffer.byteLength(value.S);
    else if (value.B !== undefined) bytes += Buffer.from(value.B, 'base64').length;
    else if (value.N !== undefined) bytes += Math.ceil(value.N.replace(/^-/, '').length / 2) + 1;
    else bytes += 1;
  }
  return bytes;
}

const pkOf = (body: Json): string =>
  ((body['Key'] as Record<string, Attr> | undefined)?.['pk']?.S ?? '').split('#')[0]!;

/** Which step of a renewal a request is, from what it writes and the condition it carries. */
export function labelOf(operation: string, body: Json): string {
  const condition = String(body['ConditionExpression'] ?? '');
  const update = String(body['UpdateExpression'] ?? '');
  if (operation === 'GetItem') return `GetItem ${pkOf(body)} item`;
  if (operation === 'UpdateItem' && pkOf(body) === 'lock') {
    if (condition.includes('attribute_not_exists(#owner)')) return 'UpdateItem lease acquire';
    if (update.startsWith('REMOVE #owner')) return 'UpdateItem lease release';
    return 'UpdateItem lease renew';
  }
  if (operation === 'UpdateItem' && pkOf(body) === 'cert') {
    if (update === 'SET #fence = :fence') return 'UpdateItem claim (the re-read under the lease)';
    const state = stateOf(body);
    const what = state?.outbox?.length ? 'state + events' : state?.orderUrl ? 'order URL' : 'state';
    if (condition.includes('#fence = :fence')) return `UpdateItem ${what} after own write (outbox cleared)`;
    return `UpdateItem ${what}`;
  }
  if (operation === 'TransactWriteItems') {
    const items = (body['TransactItems'] as Json[] | undefined) ?? [];
    const updated = items.map((i) => i['Update'] as Json | undefined).find((u) => u !== undefined);
    const state = updated ? stateOf(updated) : undefined;
    const what = state?.outbox?.length ? 'state + events' : state?.orderUrl ? 'order URL' : 'state';
    return `TransactWriteItems ${what} (fenced by the lease)`;
  }
  return operation;
}

function stateOf(body: Json): { outbox?: unknown[]; orderUrl?: string } | undefined {
  const values = body['ExpressionAttributeValues'] as Record<string, Attr> | undefined;
  const state = values?.[':state'];
  if (state === undefined) return undefined;
  try {
    const text =
      state.B === undefined ? state.S! : gunzipSync(Buffer.from(state.B, 'base64')).toString('utf8');
    return JSON.parse(text) as { outbox?: unknown[]; orderUrl?: string };
  } catch {
    return undefined;
  }
}

const readAll = async (stream: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** `label` names each request's line; default: the step of a renewal it is (labelOf). */
export async function recordCapacity(
  target: string,
  label: (operation: string, body: Json) => string = labelOf,
): Promise<CapacityRecorder> {
  const upstream = new URL(target);
  const lines = new Map<string, CapacityLine>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const raw = await readAll(req);
      const operation = String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop();
      let body: Json | undefined;
      let forwarded = raw;
      if (operation && raw.length > 0) {
        body = JSON.parse(raw.toString('utf8')) as Json;
        forwarded = Buffer.from(JSON.stringify({ ...body, ReturnConsumedCapacity: 'INDEXES' }));
      }
      const headers = { ...req.headers, 'content-length': String(forwarded.length), host: upstream.host };
      const answer = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
        (resolve, reject) => {
          const out = httpRequest(
            { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
            (r) =>
              void readAll(r).then((b) =>
                resolve({ status: r.statusCode ?? 500, headers: r.headers, body: b }),
              ),
          );
          out.on('error', reject);
          out.end(forwarded);
        },
      );
      if (operation && body && answer.status === 200)
        record(lines, label(operation, body), operation, body, answer.body);
      res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
      res.end(answer.body);
    })().catch((err: unknown) => {
      res.writeHead(502);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    lines,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function record(
  lines: Map<string, CapacityLine>,
  label: string,
  operation: string,
  body: Json,
  answer: Buffer,
): void {
  const out = JSON.parse(answer.toString('utf8')) as Json;
  const consumed = ([] as Json[]).concat((out['ConsumedCapacity'] as Json | Json[] | undefined) ?? []);
  const line = lines.get(label) ?? { calls: 0, tableWru: 0, indexWru: 0, rru: 0, bytes: 0, sized: 0 };
  line.calls += 1;
  const reads = operation === 'GetItem' || operation === 'Query' || operation === 'Scan';
  for (const c of consumed) {
    const table = (c['Table'] as { CapacityUnits?: number } | undefined)?.CapacityUnits ?? 0;
    const indexes = Object.values(
      (c['GlobalSecondaryIndexes'] as Record<string, Json> | undefined) ?? {},
    ).reduce((sum, i) => sum + Number(i['CapacityUnits'] ?? 0), 0);
    if (reads) line.rru += Number(c['CapacityUnits'] ?? table);
    else {
      line.tableWru += table;
      line.indexWru += indexes;
    }
  }
  const item = out['Item'] as Record<string, Attr> | undefined;
  const updated = ((body['TransactItems'] as Json[] | undefined) ?? [])
    .map((i) => i['Update'] as Json | undefined)
    .find((u) => u !== undefined);
  const state = ((updated ?? body)['ExpressionAttributeValues'] as Record<string, Attr> | undefined)?.[
    ':state'
  ];
  if (item && item['pk']?.S?.startsWith('cert#')) {
    line.bytes += itemSize(item);
    line.sized += 1;
  } else if (state !== undefined) {
    line.bytes += itemSize({ state });
    line.sized += 1;
  }
  lines.set(label, line);
}
