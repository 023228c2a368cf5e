import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import buffer from 'node:buffer';
import {
  AxiosError,
  AxiosHeaders,
  type AxiosAdapter,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import { isLoopbackHost } from '../model/cas.js';

/**
 * The HTTP adapter under acme-client's axios instance (transport.ts installs it): one
 * node:http(s) request per call, what ACME needs and nothing more. axios's own Node adapter
 * loads http2, zlib, follow-redirects and proxy support at start and runs every answer
 * through its stream pipeline, a measurable share of a short CLI run; ACME requests are small
 * JSON (JWS) POSTs and GETs to one CA (RFC 8555 §6).
 *
 * What it keeps of axios's contract: absolute URL (or baseURL + url), headers as given,
 * string/Buffer bodies, `timeout` (ECONNABORTED, or ETIMEDOUT with clarifyTimeoutError),
 * `httpsAgent`/`httpAgent`, `validateStatus`, `maxRedirects` for GET and HEAD (RFC 9110
 * §15.4; a signed POST is never replayed elsewhere), `maxContentLength`, and answers decoded
 * as UTF-8 text for axios's JSON parsing (or a Buffer for `responseType: 'arraybuffer'`).
 * Network errors keep their code (ECONNREFUSED, ECONNRESET, ...) and cause. It asks for no
 * compression; a server that compresses anyway is decoded with node:zlib, loaded then.
 * Not supported (and not used by acme-client): `params`, streams, proxies, cancel tokens.
 */
export const nodeHttpAdapter: AxiosAdapter = async (config) => {
  if (config.params !== undefined && config.params !== null) {
    throw new AxiosError(
      'query params are not supported by certkeeper HTTP adapter',
      'ERR_NOT_SUPPORT',
      config,
    );
  }
  let url = new URL(config.url ?? '', config.baseURL);
  const method = (config.method ?? 'get').toUpperCase();
  const body = requestBody(config);
  const redirects = config.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  for (let hop = 0; ; hop++) {
    const { response, request } = await send(config, url, method, body);
    const location = response.headers.location;
    const follow =
      REDIRECTS.has(response.statusCode ?? 0) && (method === 'GET' || method === 'HEAD') && location;
    if (!follow) return settle(config, request, response, await readBody(config, request, response));
    response.resume();
    if (hop >= redirects) {
      throw new AxiosError(`more than ${redirects} redirects`, 'ERR_FR_TOO_MANY_REDIRECTS', config, request);
    }
    url = new URL(location, url);
  }
};

const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** axios's own default is unlimited; ACME answers are a few KB (a chain, a directory). */
const DEFAULT_MAX_CONTENT_LENGTH = 16 * 1024 * 1024;

function requestBody(config: InternalAxiosRequestConfig): Buffer | undefined {
  const data: unknown = config.data;
  if (data === undefined || data === null) return undefined;
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  // axios's transformRequest has already turned objects into JSON text; anything else is a bug.
  throw new AxiosError('request body must be a string or a Buffer', 'ERR_BAD_OPTION_VALUE', config);
}

function send(
  config: InternalAxiosRequestConfig,
  url: URL,
  method: string,
  body: Buffer | undefined,
): Promise<{ response: IncomingMessage; request: ClientRequest }> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.headers.toJSON(true) as Record<string, unknown>)) {
    if (value !== undefined && value !== null && value !== false) headers[name] = String(value);
  }
  // No compression asked for (axios's adapter asks for gzip, deflate and br).
  headers['Accept-Encoding'] = 'identity';
  if (body) headers['Content-Length'] = String(body.length);
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') {
    return Promise.reject(new AxiosError(`unsupported protocol ${url.protocol}`, 'ERR_BAD_REQUEST', config));
  }
  // RFC 8555 §6.1: ACME is HTTPS. Plain http only to this machine (a test CA, a local TLS
  // proxy): a directory, a URL in it or a redirect must not send requests out in clear.
  if (!https && !isLoopbackHost(url.hostname)) {
    return Promise.reject(
      new AxiosError(
        `${url.href}: ACME requests go over https (RFC 8555 §6.1); plain http only to a CA on this machine`,
        'ERR_BAD_REQUEST',
        config,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const request = (https ? httpsRequest : httpRequest)(url, {
      method,
      headers,
      agent: https ? config.httpsAgent : config.httpAgent,
    });
    request.once('response', (response) => resolve({ response, request }));
    // `on`, not `once`: a socket may fail again while the answer is read (readBody sees that).
    request.on('error', (err) =>
      reject(err instanceof AxiosError ? err : AxiosError.from(err, undefined, config, request)),
    );
    const timeout = config.timeout ?? 0;
    if (timeout > 0) {
      request.setTimeout(timeout, () => {
        const code = config.transitional?.clarifyTimeoutError ? 'ETIMEDOUT' : 'ECONNABORTED';
        const error = new AxiosError(`timeout of ${timeout}ms exceeded`, code, config, request);
        request.destroy(error);
      });
    }
    request.end(body);
  });
}

async function readBody(
  config: InternalAxiosRequestConfig,
  request: ClientRequest,
  response: IncomingMessage,
): Promise<Buffer> {
  const limit =
    config.maxContentLength !== undefined && config.maxContentLength > -1
      ? config.maxContentLength
      : DEFAULT_MAX_CONTENT_LENGTH;
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > limit) {
        response.destroy();
        throw new AxiosError(
          `maxContentLength size of ${limit} exceeded`,
          'ERR_BAD_RESPONSE',
          config,
          request,
        );
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw err instanceof AxiosError ? err : AxiosError.from(err, undefined, config, request);
  }
  const raw = Buffer.concat(chunks, length);
  const encoding = String(response.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding === 'identity' || raw.length === 0) return raw;
  return decompress(config, request, raw, encoding, limit);
}

/**
 * A compressed answer is decoded with the same cap as the bytes received: a few bytes of
 * brotli or gzip can stand for gigabytes, and zlib stops at `maxOutputLength`
 * instead of filling the memory.
 */
async function decompress(
  config: InternalAxiosRequestConfig,
  request: ClientRequest,
  raw: Buffer,
  encoding: string,
  limit: number,
): Promise<Buffer> {
  const zlib = await import('node:zlib');
  const decode: Record<string, (b: Buffer, o: { maxOutputLength: number }) => Buffer> = {
    gzip: zlib.gunzipSync,
    'x-gzip': zlib.gunzipSync,
    deflate: zlib.inflateSync,
    br: zlib.brotliDecompressSync,
  };
  const decoder = decode[encoding];
  if (!decoder)
    throw new AxiosError(`unsupported content-encoding ${encoding}`, 'ERR_BAD_RESPONSE', config, request);
  try {
    // zlib's own ceiling is about 4 GiB; a cap above it means "no cap" here as well.
    return decoder(raw, { maxOutputLength: Math.min(limit, buffer.kMaxLength) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') {
      throw AxiosError.from(err, 'ERR_BAD_RESPONSE', config, request);
    }
    throw new AxiosError(
      `decompressed answer exceeds maxContentLength size of ${limit}`,
      'ERR_BAD_RESPONSE',
      config,
      request,
    );
  }
}

/** axios's settle: resolve unless validateStatus refuses the status. */
function settle(
  config: InternalAxiosRequestConfig,
  request: ClientRequest,
  message: IncomingMessage,
  raw: Buffer,
): AxiosResponse {
  const status = message.statusCode ?? 0;
  const data = config.responseType === 'arraybuffer' ? raw : stripBom(raw.toString('utf8'));
  const response: AxiosResponse = {
    data,
    status,
    statusText: message.statusMessage ?? '',
    headers: AxiosHeaders.from(message.headers as Record<string, string>),
    config,
    request,
  };
  const validate = config.validateStatus;
  if (!status || !validate || validate(status)) return response;
  throw new AxiosError(
    `Request failed with status code ${status}`,
    status >= 500 ? AxiosError.ERR_BAD_RESPONSE : AxiosError.ERR_BAD_REQUEST,
    config,
    request,
    response,
  );
}

const stripBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
