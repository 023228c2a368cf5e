/**
 * A fault-injecting HTTP reverse proxy in front of an AWS stand-in (moto's S3, DynamoDB
 * Local): every request is forwarded unchanged, except those a rule matches, which get the
 * error AWS itself would send: S3 `503 SlowDown` or `403 AccessDenied` (XML), DynamoDB `400 ThrottlingException`
 * (JSON), or a Route53 change that stays `PENDING`. The handlers reach it through the SDK's own AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL_DYNAMODB, so certkeeper runs unchanged, retries included: a rule stays
 * in force until switched off, as an AWS partition under load would.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AwsFaultRule {
  /** Decides on a request: method, path (with query), the DynamoDB X-Amz-Target and the body. */
  match(request: { method: string; path: string; target: string; body: string }): boolean;
  /** The answer AWS would give. */
  respond: 's3-slowdown' | 's3-access-denied' | 'dynamodb-throttling' | 'route53-pending' | 'sns-internal';
}

export interface AwsFaultProxy {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** The rule in force, or none. */
  setRule(rule: AwsFaultRule | undefined): void;
  /** Requests answered with a fault, as "METHOD path (target)". */
  readonly injected: string[];
  close(): Promise<void>;
}

export async function startAwsFaultProxy(upstream: string): Promise<AwsFaultProxy> {
  const target = new URL(upstream);
  let rule: AwsFaultRule | undefined;
  const injected: string[] = [];

  const fail = (res: ServerResponse, kind: AwsFaultRule['respond']) => {
    if (kind === 's3-slowdown') {
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>',
      );
    } else if (kind === 's3-access-denied') {
      // What S3 answers a reader without s3:ListBucket for a key that does not exist.
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>fault</RequestId></Error>',
      );
    } else if (kind === 'sns-internal') {
      // The query protocol's error document, as SNS sends it on a 500.
      res.writeHead(500, { 'content-type': 'text/xml' });
      res.end(
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type><Code>InternalError</Code><Message>Internal error</Message></Error><RequestId>fault</RequestId></ErrorResponse>',
      );
    } else if (kind === 'route53-pending') {
      // GetChange of a change that never reaches INSYNC.
      const id = /\/change\/([^/?]+)/.exec(res.req.url ?? '')?.[1] ?? 'C0';
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<GetChangeResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/${id}</Id><Status>PENDING</Status><SubmittedAt>${new Date().toISOString()}</SubmittedAt></ChangeInfo></GetChangeResponse>`,
      );
    } else {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(
        JSON.stringify({
          __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
          message: 'Rate of requests exceeds the allowed throughput.',
        }),
      );
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const amzTarget = String(req.headers['x-amz-target'] ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (rule?.match({ method: req.method ?? 'GET', path, target: amzTarget, body })) {
        injected.push(`${req.method} ${path}${amzTarget ? ` (${amzTarget.split('.').pop()})` : ''}`);
        fail(res, rule.respond);
        return;
      }
      const forward = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path,
          headers: req.headers,
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      forward.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setRule: (next) => void (rule = next),
    injected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
