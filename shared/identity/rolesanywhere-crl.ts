import {
  ImportCrlCommand,
  ListCrlsCommand,
  type RolesAnywhereClient,
  UpdateCrlCommand,
} from '@aws-sdk/client-rolesanywhere';
import { callAws } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import type { CrlTarget } from './crl-target.js';

/**
 * The agents' CRL in IAM Roles Anywhere: imported once for the stack's trust anchor (named
 * `name`, enabled), then updated in place. Roles Anywhere wants it in PEM (ImportCrl: "a
 * CRL must be in PEM format") and checks it on every CreateSession.
 */
export class RolesAnywhereCrlTarget implements CrlTarget {
  constructor(
    private readonly client: RolesAnywhereClient,
    private readonly options: { trustAnchorArn: string; name: string; clock?: Clock },
  ) {}

  async current(): Promise<{ id: string; pem: string } | undefined> {
    let nextToken: string | undefined;
    do {
      const out = await callAws(this.ctx('ListCrls'), () =>
        this.client.send(new ListCrlsCommand({ nextToken })),
      );
      for (const crl of out.crls ?? []) {
        if (
          crl.trustAnchorArn === this.options.trustAnchorArn &&
          crl.name === this.options.name &&
          crl.crlId
        ) {
          return { id: crl.crlId, pem: Buffer.from(crl.crlData ?? []).toString('utf8') };
        }
      }
      nextToken = out.nextToken;
    } while (nextToken);
    return undefined;
  }

  async publish(id: string | undefined, pem: string): Promise<void> {
    const crlData = Buffer.from(pem, 'utf8');
    if (id) {
      await callAws(this.ctx('UpdateCrl'), () =>
        this.client.send(new UpdateCrlCommand({ crlId: id, crlData })),
      );
      return;
    }
    await callAws(this.ctx('ImportCrl'), () =>
      this.client.send(
        new ImportCrlCommand({
          name: this.options.name,
          trustAnchorArn: this.options.trustAnchorArn,
          crlData,
          enabled: true,
        }),
      ),
    );
  }

  private ctx(operation: string) {
    return {
      service: 'IAM Roles Anywhere',
      operation,
      resource: this.options.trustAnchorArn,
      ...(this.options.clock ? { clock: this.options.clock } : {}),
    };
  }
}
