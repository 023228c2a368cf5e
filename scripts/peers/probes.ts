/**
 * Health probes (each one request, bounded by a timeout) and a deadline-bound wait loop.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dnsQuery } from './dns-client.js';
import { sleep } from './util.js';

/** Pebble v2.10 rejects every request without a User-Agent, the management API included. */
export const USER_AGENT = 'certkeeper-peers/1.0';

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

export function httpCall(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    ca?: string;
    timeoutMs?: number;
  } = {},
): Promise<HttpResult> {
  return new Promise((resolveResult, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      target,
      {
        method: options.method ?? 'GET',
        headers: { 'User-Agent': USER_AGENT, ...options.headers },
        ca: options.ca,
        timeout: options.timeoutMs ?? 3_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolveResult({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in time`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Resolves when an HTTP(S) GET answers with the expected status. */
export async function probeHttp(url: string, expect: number, ca?: string): Promise<void> {
  const result = await httpCall(url, { ca });
  if (result.status !== expect) throw new Error(`GET ${url} answered ${result.status}, want ${expect}`);
}

/** DynamoDB Local answers ListTables (any signature is accepted). */
export async function probeDynamodb(endpoint: string): Promise<void> {
  const result = await httpCall(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': 'DynamoDB_20120810.ListTables',
      Authorization:
        'AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: '{}',
  });
  if (result.status !== 200)
    throw new Error(`ListTables answered ${result.status}: ${result.body.slice(0, 200)}`);
}

/** The DNS server answers over UDP and TCP, and reaches moto (NXDOMAIN, not SERVFAIL). */
export async function probeDns(server: string): Promise<void> {
  for (const transport of ['udp', 'tcp'] as const) {
    const reply = await dnsQuery(server, 'health-probe.certkeeper.invalid', 'TXT', {
      transport,
      timeoutMs: 2_000,
    });
    if (reply.rcode !== 'NXDOMAIN') throw new Error(`DNS probe over ${transport} answered ${reply.rcode}`);
  }
}

/**
 * Calls probe until it resolves, at most until the deadline; `abort` (checked between
 * tries) ends the wait early, e.g. when the process died.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<void>,
  deadlineMs: number,
  abort: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let lastError = 'not tried';
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const aborted = abort();
    if (aborted) throw new Error(`${what}: ${aborted}`);
    try {
      await probe();
      return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what} not healthy after ${deadlineMs / 1000}s (last probe: ${lastError})`);
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
  }
}
