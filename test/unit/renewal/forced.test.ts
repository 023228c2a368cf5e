import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../../shared/model/clock.js';
import { type CertificateState, initialState } from '../../../shared/model/state.js';
import { forceDecision, REMEMBERED_FORCE_REQUESTS, rememberForce } from '../../../shared/renewal/forced.js';

const now = new Date('2026-12-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const valid: CertificateState = {
  ...initialState(new Date(ago(30 * DAY))),
  status: 'valid',
  lastSuccessAt: ago(10 * DAY),
};
const request = { id: 'req-0000000001', at: ago(HOUR) };

describe('forced renewal requests (renewal/forced.ts)', () => {
  it('honours a new request made since the last success', () => {
    expect(forceDecision(valid, request, now)).toEqual({ force: true });
  });

  it('ignores one handled already, one over a day old, one the certificate was renewed since, and any for a retired certificate', () => {
    const handled = rememberForce(valid, request);
    expect(forceDecision(handled, request, now)).toMatchObject({
      force: false,
      ignored: expect.stringMatching(/handled already/),
    });
    expect(forceDecision(valid, { ...request, at: ago(DAY + 1) }, now)).toMatchObject({
      force: false,
      ignored: expect.stringMatching(/more than a day old/),
    });
    expect(forceDecision(valid, { ...request, at: 'not a time' }, now)).toMatchObject({ force: false });
    expect(forceDecision({ ...valid, lastSuccessAt: ago(HOUR / 2) }, request, now)).toMatchObject({
      force: false,
      ignored: expect.stringMatching(/renewed since/),
    });
    expect(forceDecision({ ...valid, status: 'retired' }, request, now)).toMatchObject({
      force: false,
      ignored: expect.stringMatching(/retired/),
    });
  });

  it(`remembers the last ${REMEMBERED_FORCE_REQUESTS} request ids, newest last, each once`, () => {
    let state = valid;
    for (let i = 1; i <= REMEMBERED_FORCE_REQUESTS + 2; i++)
      state = rememberForce(state, { ...request, id: `req-${i}-aaaaaa` });
    state = rememberForce(state, { ...request, id: 'req-7-aaaaaa' });
    expect(state.forced).toEqual([
      'req-3-aaaaaa',
      'req-4-aaaaaa',
      'req-5-aaaaaa',
      'req-6-aaaaaa',
      'req-7-aaaaaa',
    ]);
  });
});
