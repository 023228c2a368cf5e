import type { CertificateEvent } from '../model/events.js';

/** Port: publishes certificate events (SNS in AWS, memory in tests and local mode). */
export interface EventPublisher {
  publish(event: CertificateEvent): Promise<void>;
}

export class MemoryPublisher implements EventPublisher {
  readonly events: CertificateEvent[] = [];
  async publish(event: CertificateEvent): Promise<void> {
    this.events.push(event);
  }
}
