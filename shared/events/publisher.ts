import { CertkeeperError } from '../model/errors.js';
import type { CertificateEvent } from '../model/event.js';

/** Port: publishes certificate events (SNS in AWS, memory in tests and local mode). */
export interface EventPublisher {
  publish(event: CertificateEvent): Promise<void>;
}

export class MemoryPublisher implements EventPublisher {
  readonly events: CertificateEvent[] = [];
  async publish(event: CertificateEvent): Promise<void> {
    // The same guard as SNS: local mode prints these, and tests must see what SNS would refuse.
    assertNoKeyMaterial(JSON.stringify(event), event);
    this.events.push(event);
  }
}

/**
 * Events travel to chat channels, mailboxes and third-party webhooks: whatever the bug
 * upstream, a private key must never ride along. The error names the event, never its body.
 */
export function assertNoKeyMaterial(
  message: string,
  event: Pick<CertificateEvent, 'type' | 'certificate'>,
): void {
  if (message.includes('PRIVATE KEY')) {
    throw new CertkeeperError(
      'internal',
      `refused to publish ${event.type} for ${event.certificate}: the event contains private key material`,
      {
        retryable: false,
        fix: 'this is a bug in whatever built the event; report it (the event was not sent)',
      },
    );
  }
}
