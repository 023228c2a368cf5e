import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHttp01Responder } from '../../../shared/challenges/http01/responder.js';
import { S3Http01Solver } from '../../../shared/challenges/http01/s3.js';
import type { Challenge } from '../../../shared/challenges/solver.js';
import { ValidationError } from '../../../shared/model/errors.js';
import { parseIdentifier } from '../../../shared/model/identifiers.js';
import { FsObjectStore } from '../../../shared/store/fs-store.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const challenge: Challenge = {
  type: 'http-01',
  identifier: parseIdentifier('192.0.2.10'),
  token: TOKEN,
  value: `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`,
};

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'certkeeper-http01-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('S3Http01Solver over a local store, served by the responder', () => {
  // Serving while presented and 404 after cleanup is in test/contracts/challenge-solver.test.ts.
  it('answers 404 for anything but a presented token at its exact path', async () => {
    const store = new FsObjectStore({ root });
    const solver = new S3Http01Solver({ store });
    const responder = await startHttp01Responder({ store, host: '127.0.0.1', port: 0 });
    const url = (path: string) => `http://127.0.0.1:${responder.address.port}${path}`;
    try {
      await solver.present([challenge]);
      for (const path of [
        '/',
        '/.well-known/acme-challenge/short',
        `/.well-known/acme-challenge/${TOKEN}/x`,
      ]) {
        expect((await fetch(url(path))).status).toBe(404);
      }
    } finally {
      await responder.close();
    }
  });

  it('refuses tokens that are not base64url before touching the store', async () => {
    const solver = new S3Http01Solver({ store: new FsObjectStore({ root }) });
    await expect(
      solver.present([{ ...challenge, token: '../../certificates/web/current.json' }]),
    ).rejects.toBeInstanceOf(ValidationError);
  });
});
