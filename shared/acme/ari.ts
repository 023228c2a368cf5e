import * as z from 'zod';
import { CertkeeperError } from '../model/errors.js';
import type { RenewalInfo } from './ca.js';
import { parseRetryAfter } from './http-answers.js';
import type { AcmeTransport } from './transport.js';

/** RFC 9773 §4.2 RenewalInfo object; unknown keys ignored. */
const renewalInfoSchema = z.looseObject({
  suggestedWindow: z.looseObject({ start: z.string(), end: z.string() }),
  explanationURL: z.string().optional(),
});

/**
 * RFC 9773 §4.2: an unauthenticated GET of `<renewalInfo>/<certID>` (not POST-as-GET).
 * Problem documents, rate limits and network failures arrive translated by the transport.
 */
export async function fetchRenewalInfo(
  transport: AcmeTransport,
  renewalInfoUrl: string,
  certId: string,
  now: Date,
): Promise<RenewalInfo> {
  const url = `${renewalInfoUrl.replace(/\/+$/, '')}/${certId}`;
  const response = await transport.get(url);
  const unusable = (why: string): CertkeeperError =>
    new CertkeeperError('internal', `renewal information from ${url} is unusable: ${why}`, {
      retryable: true,
      fix: 'nothing to do: ARI is polled again later and the lifetime-based renewal time applies meanwhile',
    });
  if (response.status !== 200) throw unusable(`HTTP ${response.status}`);

  const parsed = renewalInfoSchema.safeParse(response.data);
  if (!parsed.success) throw unusable('not a RenewalInfo object');
  const start = new Date(parsed.data.suggestedWindow.start);
  const end = new Date(parsed.data.suggestedWindow.end);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()))
    throw unusable('window times are not RFC 3339');
  // RFC 9773 §4.2: a window whose end does not follow its start is invalid.
  if (end <= start) throw unusable('the window ends before it starts');

  const retryAfterMs = parseRetryAfter(response.headers['retry-after'], now);
  return {
    suggestedWindow: { start, end },
    ...(parsed.data.explanationURL ? { explanationURL: parsed.data.explanationURL } : {}),
    ...(retryAfterMs !== undefined ? { retryAfter: new Date(now.getTime() + retryAfterMs) } : {}),
  };
}
