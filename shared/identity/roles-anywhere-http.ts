import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { SECOND } from '../model/clock.js';
import { malformedAnswer } from './roles-anywhere-errors.js';

/**
 * The one HTTPS exchange of the Roles Anywhere client (node:https, no dependency), and
 * reading AWS's restJson1 error answers: `x-amzn-ErrorType` (or the body's __type/code)
 * and `{"message": ...}`.
 */
const REQUEST_TIMEOUT_MS = 30 * SECOND;
/** CreateSession answers are a few KB; anything much larger is not the service. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** What came back: the status, the body, and for an error its AWS error type and message. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** The request as it goes out; `url` carries the query string. */
export interface OutgoingRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: string | Buffer;
}

/** Sends one request over HTTPS, trusting the public roots and `caPem`; bounded in time and size. */
export function send(
  request: OutgoingRequest,
  caPem: string | undefined,
  signal: AbortSignal | undefined,
): Promise<Answer> {
  return new Promise((resolveAnswer, reject) => {
    const headers: Record<string, string> = { 'user-agent': 'certkeeper-agent' };
    for (const [name, value] of request.headers) headers[name] = value;
    const req = httpsRequest(request.url, {
      method: request.method,
      headers,
      // node:https's `ca` replaces the public roots: keep them beside the extra CA.
      ca: caPem === undefined ? undefined : [...rootCertificates, caPem],
      timeout: REQUEST_TIMEOUT_MS,
      signal,
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          req.destroy();
          reject(malformedAnswer(request.url.origin, `the answer is larger than ${MAX_ANSWER_BYTES} bytes`));
        } else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () =>
        resolveAnswer({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.end(request.body);
  });
}

export function errorType(headers: IncomingHttpHeaders, body: string): string | undefined {
  const header = headers['x-amzn-errortype'];
  const raw =
    (Array.isArray(header) ? header[0] : header) ?? jsonField(body, '__type') ?? jsonField(body, 'code');
  // restJson1: "AccessDeniedException:http://internal.amazon.com/..." or "ns#AccessDeniedException".
  return raw?.split(':')[0]?.split('#').pop();
}

export function errorMessage(body: string): string {
  return (jsonField(body, 'message') ?? jsonField(body, 'Message') ?? body.slice(0, 300)).trim();
}

function jsonField(body: string, name: string): string | undefined {
  try {
    const value = (JSON.parse(body) as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

export function retryAfter(headers: IncomingHttpHeaders): number | undefined {
  const seconds = Number(headers['retry-after']);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}
