/**
 * Answers DNS questions from the Route53 record sets stored in moto. Every lookup reads moto
 * afresh (no cache), so a record written or deleted by a test is seen by the next query.
 *
 * Rules (a test double, not a real authoritative server):
 * - the zone is the longest hosted-zone name that is a suffix of the query name; several
 *   hosted zones with that same name (tests in parallel) are read as one;
 * - no such zone: NXDOMAIN; inside a zone, a name or type without records: NOERROR, empty;
 * - TXT, A and CAA come from the record sets of that name (then the nearest `*.` wildcard);
 *   a CNAME at the name is returned and followed (up to 8 hops);
 * - AAAA is always NOERROR with no records: Pebble asks AAAA first and does not fall back
 *   to A when an IPv6 address is unreachable;
 * - names compare case-insensitively; Route53's octal escapes (`\052` for `*`) are decoded.
 */
import {
  ListHostedZonesCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';

export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL';

/** RFC 8659 §4.1: flags, property tag and value, as Route53 writes them (`0 issue "ca.example"`). */
export interface CaaData {
  readonly flags: number;
  readonly tag: string;
  readonly value: string;
}

export interface DnsAnswer {
  readonly name: string;
  readonly type: 'A' | 'TXT' | 'CNAME' | 'CAA';
  readonly ttl: number;
  /** A: the address; CNAME: the target; TXT: the character-strings; CAA: the property. */
  readonly data: string | Buffer[] | CaaData;
}

/** Route53's CAA value: `<flags> <tag> "<value>"` (the value's quotes optional). */
export function parseCaaValue(value: string): CaaData {
  const match = /^\s*(\d{1,3})\s+([A-Za-z0-9]+)\s+(.*?)\s*$/.exec(value);
  if (!match) throw new Error(`not a CAA value: ${value}`);
  const raw = match[3] ?? '';
  const unquoted = raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  return { flags: Number(match[1]), tag: match[2]!.toLowerCase(), value: unquoted };
}

export interface Lookup {
  readonly rcode: Rcode;
  readonly answers: DnsAnswer[];
}

const MAX_CNAME_HOPS = 8;
/** Answers carry TTL 0: nothing downstream should cache what the tests change. */
const ANSWER_TTL = 0;

/** Lower-case, no trailing dot, Route53 octal escapes decoded. */
export function normalizeName(name: string): string {
  const decoded = name.replace(/\\([0-7]{3})/g, (_m, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
  return decoded.toLowerCase().replace(/\.+$/, '');
}

/**
 * Splits a Route53 TXT value (`"a" "b"`, quoted strings with `\"`, `\\` and `\ooo`
 * escapes; an unquoted word is accepted too) into DNS character-strings of at most 255
 * bytes each.
 */
export function parseTxtValue(value: string): Buffer[] {
  const strings: Buffer[] = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && /\s/.test(value[i] ?? '')) i++;
    if (i >= value.length) break;
    const quoted = value[i] === '"';
    if (quoted) i++;
    const bytes: number[] = [];
    while (i < value.length) {
      const ch = value[i] ?? '';
      if (quoted ? ch === '"' : /\s/.test(ch)) break;
      if (ch === '\\' && i + 1 < value.length) {
        const octal = /^[0-7]{3}/.exec(value.slice(i + 1, i + 4));
        if (octal) {
          bytes.push(Number.parseInt(octal[0], 8) & 0xff);
          i += 4;
        } else {
          bytes.push(...Buffer.from(value[i + 1] ?? '', 'utf8'));
          i += 2;
        }
        continue;
      }
      bytes.push(...Buffer.from(ch, 'utf8'));
      i++;
    }
    if (quoted) i++; // closing quote
    for (let start = 0; start === 0 || start < bytes.length; start += 255) {
      strings.push(Buffer.from(bytes.slice(start, start + 255)));
    }
  }
  return strings;
}

interface Zone {
  readonly id: string;
  readonly name: string;
}

async function listZones(route53: Route53Client): Promise<Zone[]> {
  const zones: Zone[] = [];
  let marker: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const out = await route53.send(new ListHostedZonesCommand({ Marker: marker }));
    for (const zone of out.HostedZones ?? []) {
      if (zone.Id && zone.Name) zones.push({ id: zone.Id, name: normalizeName(zone.Name) });
    }
    if (!out.IsTruncated || !out.NextMarker) break;
    marker = out.NextMarker;
  }
  return zones;
}

async function listRecordSets(route53: Route53Client, zoneId: string): Promise<ResourceRecordSet[]> {
  const sets: ResourceRecordSet[] = [];
  let start: { name?: string; type?: string; identifier?: string } = {};
  for (let page = 0; page < 1000; page++) {
    const out = await route53.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        StartRecordName: start.name,
        StartRecordType: start.type as ResourceRecordSet['Type'],
        StartRecordIdentifier: start.identifier,
      }),
    );
    sets.push(...(out.ResourceRecordSets ?? []));
    if (!out.IsTruncated || !out.NextRecordName) break;
    start = { name: out.NextRecordName, type: out.NextRecordType, identifier: out.NextRecordIdentifier };
  }
  return sets;
}

function isInZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

export class Route53Resolver {
  constructor(private readonly route53: Route53Client) {}

  async lookup(qname: string, qtype: string): Promise<Lookup> {
    return this.resolve(qname, qtype.toUpperCase(), 0);
  }

  private async resolve(qname: string, qtype: string, hops: number): Promise<Lookup> {
    const name = normalizeName(qname);
    const zones = await listZones(this.route53);
    const matching = zones.filter((zone) => isInZone(name, zone.name));
    if (matching.length === 0) return { rcode: 'NXDOMAIN', answers: [] };
    const longest = Math.max(...matching.map((zone) => zone.name.length));
    const chosen = matching.filter((zone) => zone.name.length === longest);
    const zoneName = chosen[0]?.name ?? '';
    if (qtype === 'AAAA') return { rcode: 'NOERROR', answers: [] };

    const sets = (await Promise.all(chosen.map((zone) => listRecordSets(this.route53, zone.id)))).flat();
    const byName = new Map<string, ResourceRecordSet[]>();
    for (const set of sets) {
      if (!set.Name || !set.Type || set.AliasTarget) continue;
      const key = normalizeName(set.Name);
      byName.set(key, [...(byName.get(key) ?? []), set]);
    }
    const owner = findOwner(name, zoneName, byName);
    const rrsets = owner === undefined ? [] : (byName.get(owner) ?? []);

    const ofType = rrsets.filter((set) => set.Type === qtype);
    if (ofType.length > 0) return { rcode: 'NOERROR', answers: toAnswers(qname, ofType) };

    const cname = rrsets.find((set) => set.Type === 'CNAME');
    const target = cname?.ResourceRecords?.[0]?.Value;
    if (cname && target && qtype !== 'CNAME') {
      const answers = toAnswers(qname, [cname]);
      if (hops >= MAX_CNAME_HOPS) return { rcode: 'NOERROR', answers };
      const next = await this.resolve(target, qtype, hops + 1);
      return {
        rcode: next.rcode === 'SERVFAIL' ? 'SERVFAIL' : 'NOERROR',
        answers: [...answers, ...next.answers],
      };
    }
    return { rcode: 'NOERROR', answers: [] };
  }
}

/** The name whose record sets answer `name`: itself, else the nearest wildcard above it. */
function findOwner(name: string, zone: string, byName: Map<string, ResourceRecordSet[]>): string | undefined {
  if (byName.has(name)) return name;
  const labels = name.split('.');
  for (let i = 1; i < labels.length; i++) {
    const parent = labels.slice(i).join('.');
    if (!isInZone(parent, zone)) break;
    const wildcard = `*.${parent}`;
    if (byName.has(wildcard)) return wildcard;
  }
  return undefined;
}

function toAnswers(qname: string, sets: ResourceRecordSet[]): DnsAnswer[] {
  const answers: DnsAnswer[] = [];
  const owner = qname.replace(/\.$/, '');
  for (const set of sets) {
    for (const record of set.ResourceRecords ?? []) {
      const value = record.Value ?? '';
      if (set.Type === 'TXT')
        answers.push({ name: owner, type: 'TXT', ttl: ANSWER_TTL, data: parseTxtValue(value) });
      else if (set.Type === 'A')
        answers.push({ name: owner, type: 'A', ttl: ANSWER_TTL, data: value.trim() });
      else if (set.Type === 'CAA')
        answers.push({ name: owner, type: 'CAA', ttl: ANSWER_TTL, data: parseCaaValue(value) });
      else if (set.Type === 'CNAME')
        answers.push({ name: owner, type: 'CNAME', ttl: ANSWER_TTL, data: normalizeName(value.trim()) });
    }
  }
  return answers;
}
