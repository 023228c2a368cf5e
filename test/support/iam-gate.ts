/**
 * A test peer that enforces IAM where the local peers do not: an HTTP proxy in front of moto
 * and DynamoDB Local that, for every request signed with credentials the Roles Anywhere
 * stand-in issued, evaluates what the request asks (action, resource, condition keys, the
 * session's principal tags) with @cloud-copilot/iam-simulate against the synthesized agent
 * role's policies, and answers AccessDenied as the service would when they do not allow
 * it. Everything else (the test's own requests) passes through untouched. It is what turns
 * "the policy says" into "the agent was refused".
 */
import { type IncomingMessage, type ServerResponse, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IssuedSession } from '../../scripts/peers/roles-anywhere/index.js';
import type { RecordedCall } from './aws-recorder.js';
import {
  type Decision,
  type Encryption,
  type IamRequest,
  type PolicySet,
  decide,
  iamRequests,
} from './iam.js';

export interface GateDecision {
  agent: string;
  action: string;
  resource: string;
  decision: Decision;
}

export interface IamGate {
  /** Where the agents' AWS_ENDPOINT_URL points. */
  endpoint: string;
  /** Every decision on a stand-in session's request, oldest first. */
  decisions(): GateDecision[];
  close(): Promise<void>;
}

export interface IamGateOptions {
  motoEndpoint: string;
  dynamodbEndpoint: string;
  sessions: () => readonly IssuedSession[];
  policies: PolicySet;
  /** The principal in `policies` every session stands for (the agent role). */
  principal: string;
  encryption: Encryption;
}

export async function startIamGate(options: IamGateOptions): Promise<IamGate> {
  const decisions: GateDecision[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const scope = /Credential=([^/,\s]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(
      req.headers.authorization ?? '',
    );
    const service = scope?.[2] ?? (req.headers['x-amz-target'] ? 'dynamodb' : 's3');
    const target = service === 'dynamodb' ? options.dynamodbEndpoint : options.motoEndpoint;
    const session = scope ? options.sessions().find((s) => s.accessKeyId === scope[1]) : undefined;
    if (session) {
      const call = callOf(service, req, body);
      const requests = call ? iamRequests(call, options.encryption) : [];
      for (const r of requests) {
        const tagged: IamRequest = {
          ...r,
          context: {
            ...r.context,
            ...Object.fromEntries(
              Object.entries(session.principalTags).map(([k, v]) => [`aws:PrincipalTag/${k}`, v]),
            ),
          },
        };
        const decision = await decide(options.policies, options.principal, tagged);
        decisions.push({
          agent: session.sourceIdentity ?? '?',
          action: r.action,
          resource: r.resource,
          decision,
        });
        if (decision !== 'Allowed') return deny(res, service, session, r);
      }
      if (!call)
        return deny(res, service, session, { action: `${service}:${req.method}`, resource: req.url ?? '' });
    }
    await forward(target, req, body, res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`iam gate: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    decisions: () => [...decisions],
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** The call a request makes, in aws-recorder's terms, for iam.ts's mapping; undefined when not known. */
function callOf(service: string, req: IncomingMessage, body: Buffer): RecordedCall | undefined {
  const url = new URL(req.url ?? '/', 'http://gate');
  if (service === 'dynamodb') {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    if (!operation) return undefined;
    return {
      principal: '',
      service: 'DynamoDB',
      operation,
      input: JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>,
    };
  }
  if (service !== 's3') return undefined;
  const [, bucket, ...rest] = url.pathname.split('/');
  const key = rest.map(decodeURIComponent).join('/');
  const s3 = (operation: string, input: Record<string, unknown>): RecordedCall => ({
    principal: '',
    service: 'S3',
    operation,
    input: { Bucket: decodeURIComponent(bucket ?? ''), ...input },
  });
  const method = req.method ?? 'GET';
  if (!key)
    return method === 'GET'
      ? s3('ListObjectsV2', { Prefix: url.searchParams.get('prefix') ?? '' })
      : undefined;
  if (method === 'GET')
    return s3(url.searchParams.has('tagging') ? 'GetObjectTagging' : 'GetObject', { Key: key });
  if (method === 'HEAD') return s3('HeadObject', { Key: key });
  if (method === 'PUT')
    return s3(url.searchParams.has('tagging') ? 'PutObjectTagging' : 'PutObject', { Key: key });
  if (method === 'DELETE') return s3('DeleteObject', { Key: key });
  return undefined;
}

function deny(
  res: ServerResponse,
  service: string,
  session: IssuedSession,
  request: Pick<IamRequest, 'action' | 'resource'>,
): void {
  const message = `User: arn:aws:sts::${session.roleArn.split(':')[4]}:assumed-role/${session.roleArn.split('/').pop()}/${session.roleSessionName} is not authorized to perform: ${request.action} on resource: ${request.resource}`;
  if (service === 'dynamodb') {
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', Message: message }));
    return;
  }
  res.writeHead(403, { 'content-type': 'application/xml' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${message}</Message></Error>`,
  );
}

function forward(target: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', target);
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      url,
      {
        method: req.method,
        headers: { ...req.headers, host: url.host, 'content-length': String(body.length) },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => resolve());
        answer.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(body);
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
