import {
  type ACMClient,
  AddTagsToCertificateCommand,
  ImportCertificateCommand,
  type Tag,
} from '@aws-sdk/client-acm';
import { callAws } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import { CertkeeperError, NotFoundError } from '../model/errors.js';

export { ACM_TAG_CERTIFICATE, ACM_TAG_SERIAL } from '../model/delivery.js';

export interface AcmImportInput {
  /** The leaf, PEM. */
  certificate: string;
  /** The intermediates, PEM, without the leaf (ACM's CertificateChain). */
  chain: string;
  privateKey: string;
  /** Re-import into this certificate (same ARN, so listeners follow); absent for the first import. */
  certificateArn?: string;
  tags: Record<string, string>;
}

/** Port: imports a certificate into ACM in one region and answers its ARN. */
export interface AcmImporter {
  importCertificate(region: string, input: AcmImportInput): Promise<string>;
}

export interface SdkAcmImporterOptions {
  /** One client per region, built on first use (the composition root decides credentials and endpoint). */
  clientFor(region: string): ACMClient;
  /** Dates throttling errors; defaults to the system clock. */
  clock?: Clock;
}

/**
 * ACM through the AWS SDK. A first import carries the tags; a re-import cannot (ACM refuses
 * Tags together with CertificateArn), so the tags are written after it with
 * AddTagsToCertificate, which replaces the value of a key already present: the serial tag
 * always names what ACM holds. SDK errors are translated at this boundary; the private key
 * never appears in one.
 */
export class SdkAcmImporter implements AcmImporter {
  private readonly clients = new Map<string, ACMClient>();

  constructor(private readonly options: SdkAcmImporterOptions) {}

  async importCertificate(region: string, input: AcmImportInput): Promise<string> {
    const client = this.client(region);
    const tags: Tag[] = Object.entries(input.tags).map(([Key, Value]) => ({ Key, Value }));
    const encode = (pem: string) => new TextEncoder().encode(pem);
    const reimport = input.certificateArn !== undefined;
    const arn = await this.call(
      client,
      region,
      {
        operation: 'ImportCertificate',
        resource: input.certificateArn ?? `certificates in ${region}`,
        // Tagging on create is authorised as acm:AddTagsToCertificate too.
        permissions: reimport
          ? ['acm:ImportCertificate']
          : ['acm:ImportCertificate', 'acm:AddTagsToCertificate'],
      },
      input.privateKey,
      async () => {
        const out = await client.send(
          new ImportCertificateCommand({
            Certificate: encode(input.certificate),
            PrivateKey: encode(input.privateKey),
            ...(input.chain.trim() ? { CertificateChain: encode(input.chain) } : {}),
            ...(reimport ? { CertificateArn: input.certificateArn } : { Tags: tags }),
          }),
        );
        if (!out.CertificateArn) {
          throw new CertkeeperError(
            'internal',
            `ACM in ${region} answered ImportCertificate without an ARN`,
            {
              retryable: true,
            },
          );
        }
        return out.CertificateArn;
      },
    );
    if (reimport && tags.length > 0) {
      await this.call(
        client,
        region,
        { operation: 'AddTagsToCertificate', resource: arn, permissions: ['acm:AddTagsToCertificate'] },
        input.privateKey,
        () => client.send(new AddTagsToCertificateCommand({ CertificateArn: arn, Tags: tags })),
      );
    }
    return arn;
  }

  private client(region: string): ACMClient {
    let client = this.clients.get(region);
    if (!client) {
      client = this.options.clientFor(region);
      this.clients.set(region, client);
    }
    return client;
  }

  private async call<T>(
    client: ACMClient,
    region: string,
    ctx: { operation: string; resource: string; permissions: string[] },
    privateKey: string,
    call: () => Promise<T>,
  ): Promise<T> {
    try {
      return await callAws({ service: 'ACM', ...ctx, clock: this.options.clock, client }, call);
    } catch (err) {
      throw withoutKey(err, privateKey, `ACM ${ctx.operation} in ${region}`);
    }
  }
}

/**
 * Whatever ACM or the SDK puts in an error message, the key must not travel on into the
 * state, logs or events: a message that quotes any line of it is replaced, cause dropped.
 */
function withoutKey(err: unknown, privateKey: string, what: string): unknown {
  if (!(err instanceof Error)) return err;
  const lines = privateKey
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
  const text = `${err.message} ${err instanceof CertkeeperError ? (err.fix ?? '') : ''}`;
  if (!text.includes('PRIVATE KEY') && !lines.some((l) => text.includes(l))) return err;
  const retryable = err instanceof CertkeeperError ? err.retryable : true;
  return err instanceof NotFoundError
    ? new NotFoundError(`${what} failed (message withheld: it quoted key material)`, 'import again')
    : new CertkeeperError('internal', `${what} failed (message withheld: it quoted key material)`, {
        retryable,
      });
}
