/**
 * The stand-in's control plane: trust anchors, profiles and CRLs, kept in memory, in the
 * REST shapes of @aws-sdk/client-rolesanywhere (restJson1). Only what certkeeper and its
 * tests use: create/get/list/delete/enable/disable of trust anchors and profiles, and
 * ImportCrl/UpdateCrl/GetCrl/ListCrls/EnableCrl/DisableCrl/DeleteCrl.
 *
 * `enabled` defaults to false for all three, as ImportCrl does on AWS (an imported CRL
 * answers `"enabled": false` unless the call says otherwise): callers pass enabled: true.
 */
import { X509Certificate, randomUUID, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Clock } from '../../../shared/model/clock.js';
import { booleanField, integerField, invalid, jsonBody, notFound, stringField } from './http.js';

export interface TrustAnchor {
  readonly trustAnchorId: string;
  readonly trustAnchorArn: string;
  name: string;
  enabled: boolean;
  readonly certificatePem: string;
  readonly certificate: X509Certificate;
  readonly createdAt: Date;
  updatedAt: Date;
}

export interface Profile {
  readonly profileId: string;
  readonly profileArn: string;
  name: string;
  enabled: boolean;
  roleArns: string[];
  durationSeconds: number;
  managedPolicyArns: string[];
  sessionPolicy: string | undefined;
  readonly createdAt: Date;
  updatedAt: Date;
}

export interface Crl {
  readonly crlId: string;
  readonly crlArn: string;
  name: string;
  enabled: boolean;
  readonly trustAnchorArn: string;
  crlData: Buffer;
  /** Revoked serials, as BigInt decimal text. */
  revoked: Set<string>;
  /** The CRL's issuer name as node prints a certificate's (for matching). */
  issuer: string;
  readonly createdAt: Date;
  updatedAt: Date;
}

export interface Reply {
  readonly status: number;
  readonly body: unknown;
}

const DEFAULT_PROFILE_DURATION = 3600;
const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];

export class ControlPlane {
  readonly trustAnchors = new Map<string, TrustAnchor>();
  readonly profiles = new Map<string, Profile>();
  readonly crls = new Map<string, Crl>();

  constructor(
    private readonly region: string,
    private readonly accountId: string,
    private readonly clock: Clock,
  ) {}

  private arn(kind: string, id: string): string {
    return `arn:aws:rolesanywhere:${this.region}:${this.accountId}:${kind}/${id}`;
  }

  trustAnchorByArn(arn: string): TrustAnchor | undefined {
    return [...this.trustAnchors.values()].find((t) => t.trustAnchorArn === arn);
  }

  profileByArn(arn: string): Profile | undefined {
    return [...this.profiles.values()].find((p) => p.profileArn === arn);
  }

  /** Answers a control-plane call, or undefined when the route is not one of them. */
  async handle(
    method: string,
    path: string,
    query: URLSearchParams,
    raw: Buffer,
  ): Promise<Reply | undefined> {
    const m = (pattern: RegExp) => pattern.exec(path);
    let match: RegExpExecArray | null;
    if (path === '/trustanchors' && method === 'POST') return this.createTrustAnchor(jsonBody(raw));
    if (path === '/trustanchors' && method === 'GET')
      return page('trustAnchors', this.trustAnchors, query, trustAnchorDetail);
    if ((match = m(/^\/trustanchor\/([^/]+)(\/enable|\/disable)?$/))) {
      return this.item('trustAnchor', this.trustAnchors, match, method, trustAnchorDetail);
    }
    if (path === '/profiles' && method === 'POST') return this.createProfile(jsonBody(raw));
    if (path === '/profiles' && method === 'GET')
      return page('profiles', this.profiles, query, profileDetail);
    if ((match = m(/^\/profile\/([^/]+)(\/enable|\/disable)?$/))) {
      return this.item('profile', this.profiles, match, method, profileDetail);
    }
    if (path === '/crls' && method === 'POST') return this.importCrl(jsonBody(raw));
    if (path === '/crls' && method === 'GET') return page('crls', this.crls, query, crlDetail);
    if ((match = m(/^\/crl\/([^/]+)$/)) && method === 'PATCH')
      return this.updateCrl(match[1]!, jsonBody(raw));
    if ((match = m(/^\/crl\/([^/]+)(\/enable|\/disable)?$/)))
      return this.item('crl', this.crls, match, method, crlDetail);
    return undefined;
  }

  /** Get (GET), delete (DELETE), enable or disable (POST .../enable|disable) one item. */
  private item<T extends { enabled: boolean; updatedAt: Date }>(
    key: string,
    items: Map<string, T>,
    match: RegExpExecArray,
    method: string,
    detail: (item: T) => unknown,
  ): Reply | undefined {
    const id = match[1]!;
    const action = match[2];
    const found = items.get(id);
    if ((action && method !== 'POST') || (!action && method !== 'GET' && method !== 'DELETE'))
      return undefined;
    if (!found) throw notFound(`${key} ${id} not found`);
    if (action) {
      found.enabled = action === '/enable';
      found.updatedAt = this.clock.now();
    }
    if (method === 'DELETE') items.delete(id);
    return { status: 200, body: { [key]: detail(found) } };
  }

  private createTrustAnchor(input: Record<string, unknown>): Reply {
    const name = stringField(input, 'name', true);
    const source = input.source as
      { sourceType?: unknown; sourceData?: { x509CertificateData?: unknown } } | undefined;
    if (source?.sourceType !== 'CERTIFICATE_BUNDLE') {
      throw invalid('source.sourceType must be CERTIFICATE_BUNDLE (the stand-in has no AWS Private CA)');
    }
    const pem = source.sourceData?.x509CertificateData;
    if (typeof pem !== 'string') throw invalid('source.sourceData.x509CertificateData is required');
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      throw invalid('source.sourceData.x509CertificateData is not a PEM certificate');
    }
    // AWS requires the anchor to be a CA certificate (basicConstraints CA:true).
    if (!certificate.ca)
      throw invalid('the trust anchor certificate is not a CA certificate (basicConstraints CA:true)');
    const id = randomUUID();
    const now = this.clock.now();
    const anchor: TrustAnchor = {
      trustAnchorId: id,
      trustAnchorArn: this.arn('trust-anchor', id),
      name,
      enabled: booleanField(input, 'enabled') ?? false,
      certificatePem: pem,
      certificate,
      createdAt: now,
      updatedAt: now,
    };
    this.trustAnchors.set(id, anchor);
    return { status: 201, body: { trustAnchor: trustAnchorDetail(anchor) } };
  }

  private createProfile(input: Record<string, unknown>): Reply {
    const roleArns = input.roleArns;
    if (!Array.isArray(roleArns) || roleArns.some((r) => typeof r !== 'string')) {
      throw invalid('roleArns must be a list of role ARNs');
    }
    const durationSeconds = integerField(input, 'durationSeconds') ?? DEFAULT_PROFILE_DURATION;
    if (durationSeconds < 900 || durationSeconds > 43_200)
      throw invalid('durationSeconds must be 900 to 43200');
    const id = randomUUID();
    const now = this.clock.now();
    const profile: Profile = {
      profileId: id,
      profileArn: this.arn('profile', id),
      name: stringField(input, 'name', true),
      enabled: booleanField(input, 'enabled') ?? false,
      roleArns: roleArns as string[],
      durationSeconds,
      managedPolicyArns: Array.isArray(input.managedPolicyArns) ? (input.managedPolicyArns as string[]) : [],
      sessionPolicy: stringField(input, 'sessionPolicy'),
      createdAt: now,
      updatedAt: now,
    };
    this.profiles.set(id, profile);
    return { status: 201, body: { profile: profileDetail(profile) } };
  }

  private async importCrl(input: Record<string, unknown>): Promise<Reply> {
    const trustAnchorArn = stringField(input, 'trustAnchorArn', true);
    const anchor = this.trustAnchorByArn(trustAnchorArn);
    if (!anchor) throw notFound(`trust anchor ${trustAnchorArn} not found`);
    const data = base64Field(input, 'crlData', true);
    const parsed = await parseCrl(data, anchor);
    const id = randomUUID();
    const now = this.clock.now();
    const crl: Crl = {
      crlId: id,
      crlArn: this.arn('crl', id),
      name: stringField(input, 'name', true),
      enabled: booleanField(input, 'enabled') ?? false,
      trustAnchorArn,
      crlData: data,
      ...parsed,
      createdAt: now,
      updatedAt: now,
    };
    this.crls.set(id, crl);
    return { status: 201, body: { crl: crlDetail(crl) } };
  }

  private async updateCrl(id: string, input: Record<string, unknown>): Promise<Reply> {
    const crl = this.crls.get(id);
    if (!crl) throw notFound(`crl ${id} not found`);
    const data = base64Field(input, 'crlData', false);
    if (data) {
      const anchor = this.trustAnchorByArn(crl.trustAnchorArn);
      if (!anchor) throw notFound(`trust anchor ${crl.trustAnchorArn} not found`);
      Object.assign(crl, { crlData: data }, await parseCrl(data, anchor));
    }
    crl.name = stringField(input, 'name') ?? crl.name;
    crl.updatedAt = this.clock.now();
    return { status: 200, body: { crl: crlDetail(crl) } };
  }
}

function base64Field(input: Record<string, unknown>, name: string, required: true): Buffer;
function base64Field(input: Record<string, unknown>, name: string, required: boolean): Buffer | undefined;
function base64Field(input: Record<string, unknown>, name: string, required: boolean): Buffer | undefined {
  const text = required ? stringField(input, name, true) : stringField(input, name);
  if (text === undefined) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0) throw invalid(`${name} is empty or not base64`);
  return bytes;
}

/**
 * Parses a CRL (PEM or DER) and checks it is signed by the trust anchor's CA: a CRL
 * anyone could write would let anyone revoke. Stricter than AWS is known to be at import.
 */
async function parseCrl(data: Buffer, anchor: TrustAnchor): Promise<Pick<Crl, 'revoked' | 'issuer'>> {
  let crl: x509.X509Crl;
  try {
    const text = data.toString('latin1');
    crl = text.startsWith('-----BEGIN') ? new x509.X509Crl(text) : new x509.X509Crl(data);
  } catch {
    throw invalid('crlData is not an X.509 CRL (PEM or DER)');
  }
  const signedByAnchor = await crl
    .verify({ publicKey: new x509.X509Certificate(anchor.certificate.raw) }, crypto)
    .catch(() => false);
  if (!signedByAnchor)
    throw invalid(`the CRL is not signed by the CA of trust anchor ${anchor.trustAnchorArn}`);
  return {
    revoked: new Set(crl.entries.map((entry) => BigInt(`0x${entry.serialNumber}`).toString(10))),
    issuer: anchor.certificate.subject,
  };
}

/** ListX: `pageSize` items from the offset in `nextToken`. */
function page<T>(
  key: string,
  items: Map<string, T>,
  query: URLSearchParams,
  detail: (item: T) => unknown,
): Reply {
  const all = [...items.values()];
  const start = Number(query.get('nextToken') ?? 0) || 0;
  const size = Number(query.get('pageSize') ?? 50) || 50;
  const slice = all.slice(start, start + size);
  const next = start + size < all.length ? String(start + size) : undefined;
  return { status: 200, body: { [key]: slice.map(detail), ...(next ? { nextToken: next } : {}) } };
}

const iso = (d: Date): string => d.toISOString();

function trustAnchorDetail(t: TrustAnchor): unknown {
  return {
    trustAnchorId: t.trustAnchorId,
    trustAnchorArn: t.trustAnchorArn,
    name: t.name,
    enabled: t.enabled,
    source: { sourceType: 'CERTIFICATE_BUNDLE', sourceData: { x509CertificateData: t.certificatePem } },
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt),
  };
}

function profileDetail(p: Profile): unknown {
  return {
    profileId: p.profileId,
    profileArn: p.profileArn,
    name: p.name,
    enabled: p.enabled,
    roleArns: p.roleArns,
    durationSeconds: p.durationSeconds,
    managedPolicyArns: p.managedPolicyArns,
    ...(p.sessionPolicy !== undefined ? { sessionPolicy: p.sessionPolicy } : {}),
    requireInstanceProperties: false,
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
  };
}

function crlDetail(c: Crl): unknown {
  return {
    crlId: c.crlId,
    crlArn: c.crlArn,
    name: c.name,
    enabled: c.enabled,
    trustAnchorArn: c.trustAnchorArn,
    crlData: c.crlData.toString('base64'),
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
  };
}
