import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { EnrolmentRefusedError } from '../shared/agents/records.js';
import { asCertkeeperError, ValidationError } from '../shared/model/errors.js';
import { handleIdentityRequest } from '../shared/usecases/agent-identity.js';
import { publishAgentCrl } from '../shared/usecases/publish-agent-crl.js';
import { agentsRuntime } from './agents-runtime.js';

/** What the scheduler's rule sends on every tick (infra/issuer/agents.ts PUBLISH_CRL_EVENT). */
type CrlRequest = { action: 'publish-crl' };

/** A request is a CSR and a few names: 16 KiB is generous, and anything larger is not ours. */
const MAX_BODY_BYTES = 16 * 1024;

/**
 * The agents' identity endpoint (a function URL; the body says `join` or `renew`) and, on
 * the scheduler's tick, the CRL. Refusals answer 403 with the reason and the fix, bad
 * input 400: an operator running `agent join` reads them verbatim.
 */
export const handler = async (
  event: LambdaFunctionURLEvent | CrlRequest,
): Promise<LambdaFunctionURLResult | { published: boolean; revoked: number }> => {
  const rt = await agentsRuntime();
  if ('action' in event && event.action === 'publish-crl') {
    const result = await publishAgentCrl(rt.crl());
    rt.metrics.addMetric('AgentsRevoked', MetricUnit.Count, result.revoked);
    rt.metrics.publishStoredMetrics();
    return result;
  }
  const request = event as LambdaFunctionURLEvent;
  try {
    if (request.requestContext?.http?.method !== 'POST') {
      return answer(405, { error: { message: 'use POST', fix: 'use certkeeper agent join' } });
    }
    const text = request.isBase64Encoded
      ? Buffer.from(request.body ?? '', 'base64').toString('utf8')
      : (request.body ?? '');
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
      throw new ValidationError(
        'request',
        `is over ${MAX_BODY_BYTES} bytes`,
        'send one CSR of an EC P-256 key, as certkeeper agent join does',
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ValidationError('request', 'is not JSON', 'use certkeeper agent join');
    }
    const response = await handleIdentityRequest(rt.identity(), body);
    rt.metrics.addMetric('AgentIdentitiesIssued', MetricUnit.Count, 1);
    return answer(200, response);
  } catch (err) {
    const e = asCertkeeperError(err);
    const refused = e instanceof EnrolmentRefusedError;
    const status = refused ? 403 : e instanceof ValidationError ? 400 : 500;
    rt.log.warn('identity request refused', {
      status,
      reason: refused ? e.reason : e.code,
      error: e.describe(),
    });
    rt.metrics.addMetric(refused ? 'AgentIdentitiesRefused' : 'AgentIdentityErrors', MetricUnit.Count, 1);
    return answer(status, {
      error: {
        ...(refused ? { reason: e.reason } : {}),
        ...(e instanceof ValidationError ? { field: e.field } : {}),
        // A server error says no more than that: its cause is in this function's log.
        message: status === 500 ? 'the identity service failed; try again' : e.message,
        ...(status === 500 ? {} : { fix: e.fix }),
      },
    });
  } finally {
    rt.metrics.publishStoredMetrics();
  }
};

const answer = (statusCode: number, body: unknown): LambdaFunctionURLResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});
