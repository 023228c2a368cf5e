import { isIP } from 'node:net';
import * as z from 'zod';
import { ValidationError } from './errors.js';

/**
 * Where a certificate is delivered, besides the bucket: the agents that install it (from
 * the deployment config's `agents`), TLS endpoints that a probe reads the served
 * certificate from (servers without an agent, and a cross-check of those with one), and
 * ACM regions it is imported into. Each is a delivery target the fleet view follows.
 */
export interface ProbeEndpoint {
  host: string;
  port: number;
  /** Server name to send; none for an IP (RFC 6066 §3 forbids IP addresses in SNI). */
  sni?: string;
}

export interface DeliverySpec {
  agents: string[];
  probes: ProbeEndpoint[];
  acmRegions: string[];
}

/** Agent names as the deployment config declares them (one pattern for config, agent and reports). */
export const AGENT_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const emptyDelivery = (): DeliverySpec => ({ agents: [], probes: [], acmRegions: [] });

/** Regions with ACM, as of late 2026 (the commercial partition plus GovCloud and China). */
export const ACM_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-south-1',
  'eu-south-2',
  'eu-north-1',
  'il-central-1',
  'me-south-1',
  'me-central-1',
  'mx-central-1',
  'sa-east-1',
  'us-gov-east-1',
  'us-gov-west-1',
  'cn-north-1',
  'cn-northwest-1',
] as const;

const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** "host:port", "[v6]:port", or { host, port, sni }. */
export const probeEndpointInput = z.union([
  z.string(),
  z
    .object({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535),
      sni: z.string().min(1).optional(),
    })
    .strict(),
]);
export type ProbeEndpointInput = z.input<typeof probeEndpointInput>;

/** Parses one probe endpoint; the error names the field and shows the form expected. */
export function parseProbeEndpoint(input: ProbeEndpointInput, field: string): ProbeEndpoint {
  const fix =
    'write it as "203.0.113.10:443", "[2001:db8::1]:443", "www.example.com:443" or { "host", "port", "sni" }';
  let host: string;
  let port: number;
  let sni: string | undefined;
  if (typeof input === 'string') {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(input);
    if (!m) throw new ValidationError(field, `"${input}" is not host:port`, fix);
    host = m[1] ?? m[2]!;
    port = Number(m[3]);
    if (m[1] !== undefined && isIP(host) !== 6) {
      throw new ValidationError(field, `"${input}" has no IPv6 address inside [ ]`, fix);
    }
  } else {
    ({ host, port, sni } = input);
  }
  if (port < 1 || port > 65535) {
    throw new ValidationError(field, `port ${port} is out of range`, 'use a TCP port from 1 to 65535');
  }
  if (isIP(host) === 0 && !HOST.test(host)) {
    throw new ValidationError(field, `"${host}" is not a host name or IP address`, fix);
  }
  if (sni !== undefined && isIP(sni) !== 0) {
    throw new ValidationError(
      `${field}.sni`,
      `"${sni}" is an IP address; TLS sends no IP address as a server name (RFC 6066 §3)`,
      'leave sni out for an IP certificate',
    );
  }
  return sni === undefined ? { host, port } : { host, port, sni };
}

/** Validates declared ACM regions: a typo would otherwise fail only at the first import. */
export function parseAcmRegions(regions: readonly string[], field: string): string[] {
  const seen = new Set<string>();
  regions.forEach((region, i) => {
    if (!(ACM_REGIONS as readonly string[]).includes(region)) {
      const near = ACM_REGIONS.filter((r) => r.startsWith(region.split('-')[0] ?? '')).slice(0, 6);
      throw new ValidationError(
        `${field}[${i}]`,
        `"${region}" is not an AWS region with ACM`,
        `use a region code such as us-east-1${near.length ? ` (close: ${near.join(', ')})` : ''}`,
      );
    }
    if (seen.has(region)) {
      throw new ValidationError(`${field}[${i}]`, `"${region}" is listed twice`, 'list each region once');
    }
    seen.add(region);
  });
  return [...seen];
}

/** Tags on every certificate certkeeper imports into ACM; the issuer's IAM grants are scoped by the first. */
export const ACM_TAG_CERTIFICATE = 'certkeeper:certificate';
export const ACM_TAG_SERIAL = 'certkeeper:serial';

/** The name a probe target goes by in status, events and metrics. */
export const probeTargetId = (p: ProbeEndpoint): string =>
  `${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}${p.sni ? `/${p.sni}` : ''}`;

/**
 * ACM's default quota of imported certificates per region per year (each re-import counts).
 * https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html
 */
export const ACM_IMPORTS_PER_YEAR = 5000;
