import { describe, expect, it } from 'vitest';
import { parseQueueMessage } from '../../../agent/messages.js';
import type { CertificateEvent } from '../../../shared/model/event.js';

const event: CertificateEvent = {
  type: 'certificate.renewed',
  certificate: 'web-1',
  identifiers: ['203.0.113.10'],
  serial: '0ABC',
  at: '2026-11-22T12:00:00.000Z',
};

describe('agent queue messages', () => {
  it('reads a certificate event (raw delivery) and one in an SNS envelope', () => {
    const expected = {
      kind: 'certificate',
      certificate: 'web-1',
      type: 'certificate.renewed',
      serial: '0ABC',
    };
    expect(parseQueueMessage(JSON.stringify(event))).toEqual(expected);
    expect(
      parseQueueMessage(JSON.stringify({ Type: 'Notification', Message: JSON.stringify(event) })),
    ).toEqual(expected);
  });

  it('passes over alarms, and calls anything else malformed, saying why', () => {
    expect(parseQueueMessage(JSON.stringify({ AlarmName: 'x', NewStateValue: 'ALARM' }))).toEqual({
      kind: 'other',
    });
    expect(parseQueueMessage('not json')).toMatchObject({
      kind: 'malformed',
      error: expect.stringMatching(/is not JSON/) as string,
    });
    expect(parseQueueMessage('{"type":"certificate.renewed"}')).toMatchObject({
      kind: 'malformed',
      error: expect.stringMatching(/^message\.certificate/) as string,
    });
    expect(parseQueueMessage(undefined)).toMatchObject({ kind: 'malformed' });
  });
});
