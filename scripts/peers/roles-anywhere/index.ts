/**
 * A TEST PEER standing in for IAM Roles Anywhere, which no local emulator implements (moto
 * does not). An HTTPS server on 127.0.0.1 (free port; a throwaway TLS CA and certificate
 * made at start, removed at close) that answers the control plane certkeeper uses
 * (control-plane.ts) and CreateSession (create-session.ts): it verifies the SigV4-X509
 * signature as AWS documents it, the certificate against an enabled trust anchor and its
 * enabled CRLs, the profile and role, then hands out real temporary credentials from moto's
 * STS with the principal tags IAM Roles Anywhere would set. What it does not do: evaluate
 * the role's trust policy (moto's STS assumes any role), attribute-mapping changes, session
 * policies, AWS Private CA trust anchors, authentication of control-plane calls.
 *
 * Every session issued is recorded (sessions(), and GET SESSIONS_PATH for other processes)
 * so a later check can evaluate the agent role's policies for requests made with them.
 */
import { STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, type Server, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, systemClock } from '../../../shared/model/clock.js';
import { generateTls } from '../tls.js';
import { ControlPlane } from './control-plane.js';
import { type IssuedSession, createSession } from './create-session.js';
import { AwsError, notFound, readBody, sendError, sendJson } from './http.js';
import type { SignatureTrace } from './signature.js';

export type { IssuedSession } from './create-session.js';
export { SKEW_ALLOWANCE_MS } from './signature.js';

/** Where other processes read the sessions issued (not a path AWS uses). */
export const SESSIONS_PATH = '/_certkeeper/stand-in/sessions';

export interface RolesAnywhereStandInOptions {
  /** moto's endpoint (MOTO_ENDPOINT): where AssumeRole is called. */
  readonly stsEndpoint: string;
  /** Default us-east-1; the region in ARNs and the one signatures must be scoped to. */
  readonly region?: string;
  /** Default 123456789012 (moto's default account). */
  readonly accountId?: string;
  /** The service's own time (skew and validity are judged against it). Default the system clock. */
  readonly clock?: Clock;
}

/** One CreateSession request as received, with what the stand-in computed and answered. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly status: number;
  readonly errorType: string | undefined;
  readonly message: string | undefined;
  readonly canonicalRequest: string | undefined;
  readonly stringToSign: string | undefined;
}

export interface RolesAnywhereStandIn {
  /** https://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly region: string;
  readonly accountId: string;
  /** The CA of the endpoint's TLS certificate: trust it explicitly (caPem, SSL_CERT_FILE). */
  readonly caCertPem: string;
  readonly caCertPath: string;
  sessions(): IssuedSession[];
  /** CreateSession requests received, oldest first (the last 1000). */
  requests(): RecordedRequest[];
  close(): Promise<void>;
}

const MAX_RECORDED = 1000;

/**
 * The configuration of an AWS SDK v3 client (RolesAnywhereClient) for the stand-in: its
 * endpoint and region, dummy credentials (control-plane calls are not authenticated), and
 * an HTTPS agent that trusts the stand-in's TLS CA and nothing else.
 */
export function standInClientConfig(
  standIn: Pick<RolesAnywhereStandIn, 'endpoint' | 'region' | 'caCertPem'>,
) {
  return {
    endpoint: standIn.endpoint,
    region: standIn.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: standIn.caCertPem }) }),
  };
}

export async function startRolesAnywhereStandIn(
  options: RolesAnywhereStandInOptions,
): Promise<RolesAnywhereStandIn> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const clock = options.clock ?? systemClock;
  const dir = mkdtempSync(join(tmpdir(), 'certkeeper-roles-anywhere-'));
  try {
    const tls = await generateTls(dir);
    const controlPlane = new ControlPlane(region, accountId, clock);
    const sts = new STSClient({
      endpoint: options.stsEndpoint,
      region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const sessions: IssuedSession[] = [];
    const recorded: RecordedRequest[] = [];
    const subjects = new Map<string, string>();

    const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      const path = url.split('?')[0]!;
      const body = await readBody(req);
      if (method === 'POST' && path === '/sessions') {
        const trace: SignatureTrace = {};
        const record = (status: number, err?: AwsError) => {
          recorded.push({
            method,
            url,
            rawHeaders: [...req.rawHeaders],
            body,
            status,
            errorType: err?.type,
            message: err?.message,
            canonicalRequest: trace.canonicalRequest,
            stringToSign: trace.stringToSign,
          });
          if (recorded.length > MAX_RECORDED) recorded.shift();
        };
        try {
          const reply = await createSession(
            { method, url, rawHeaders: req.rawHeaders, body },
            { controlPlane, region, accountId, sts, now: clock.now(), trace, subjects },
          );
          sessions.push(reply.session);
          record(reply.status);
          sendJson(res, reply.status, reply.body);
        } catch (err) {
          record(err instanceof AwsError ? err.status : 500, err instanceof AwsError ? err : undefined);
          throw err;
        }
        return;
      }
      if (method === 'GET' && path === SESSIONS_PATH) {
        sendJson(res, 200, { sessions });
        return;
      }
      const reply = await controlPlane.handle(
        method,
        path,
        new URL(url, 'https://stand-in').searchParams,
        body,
      );
      if (!reply) throw notFound(`no such operation: ${method} ${path}`);
      sendJson(res, reply.status, reply.body);
    };

    const server: Server = createServer(
      { cert: readFileSync(tls.serverCert), key: readFileSync(tls.serverKey) },
      (req, res) => {
        handle(req, res).catch((err: unknown) => {
          const awsError =
            err instanceof AwsError
              ? err
              : new AwsError('InternalServerException', err instanceof Error ? err.message : String(err));
          if (!res.headersSent) sendError(res, awsError);
          else res.destroy();
        });
      },
    );
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolveListen());
    });
    const { port } = server.address() as AddressInfo;
    return {
      endpoint: `https://127.0.0.1:${port}`,
      region,
      accountId,
      caCertPem: readFileSync(tls.caCert, 'utf8'),
      caCertPath: tls.caCert,
      sessions: () => [...sessions],
      requests: () => [...recorded],
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
        sts.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
