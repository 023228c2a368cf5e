/**
 * `certkeeper issue --csr FILE`: certifies a PKCS#10 request the user made, so the private
 * key never passes through certkeeper (certbot's and lego's `--csr`). The identifiers are the
 * CSR's; the result is written to DIR/csr/<name>/{cert,chain,fullchain}.pem and nothing is
 * added to DIR's inventory: `renew --out` cannot renew it, because renewing means a new key,
 * and the key is not ours. Re-running `issue --csr` with the same request would certify the
 * same key again, which is why this is rarely the wise choice (cli/README.md).
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import acme from 'acme-client';
import { issueAtAuthorities } from '../../shared/authorities/fallback.js';
import { IntegrityError, ValidationError } from '../../shared/model/errors.js';
import { type ChallengeType, parseCertificateSpec } from '../../shared/model/spec.js';
import { certificateMatchesCsr, parseCertificate, splitPemChain } from '../../shared/pki/index.js';
import type { Composition } from '../../composition/local.js';

/** The CSR file's PEM and the identifiers it names (subjectAltName, else the Common Name). */
export function readCsr(path: string): { pem: string; ips: string[]; domains: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ValidationError(
      '--csr',
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      'give the path of a PEM certificate signing request (openssl req -new ... -out FILE)',
    );
  }
  let names: { commonName: string | null; altNames: string[] };
  try {
    if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(text)) throw new Error('no PEM request');
    names = acme.crypto.readCsrDomains(text);
  } catch {
    throw new ValidationError(
      '--csr',
      `${path} is not a PEM certificate signing request`,
      'give a PKCS#10 request in PEM ("-----BEGIN CERTIFICATE REQUEST-----"), e.g. from openssl req -new',
    );
  }
  // RFC 8555 §7.4: the identifiers are the request's SANs; an old-style request with only a
  // Common Name names that one.
  const values = names.altNames.length > 0 ? names.altNames : names.commonName ? [names.commonName] : [];
  if (values.length === 0) {
    throw new ValidationError(
      '--csr',
      `${path} names no DNS name or IP address`,
      'put the names in the subjectAltName extension (openssl req -addext "subjectAltName=DNS:example.com")',
    );
  }
  const ips = values.filter((v) => isIP(v) !== 0).map(canonicalIp);
  const domains = values.filter((v) => isIP(v) === 0);
  return { pem: text, ips, domains };
}

/** RFC 5952 form for IPv6 (the request may spell it out in full), as identifiers need. */
const canonicalIp = (ip: string): string =>
  isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;

export interface CsrResult {
  name: string;
  ordered: true;
  /** The CA that issued it: the first, or a fallback (--fallback-directory-url). */
  ca: string;
  csr: string;
  identifiers: string[];
  profile: string | null;
  serial: string;
  notBefore: string;
  notAfter: string;
  files: { cert: string; chain: string; fullchain: string };
}

/** Orders a certificate for the request through DIR's account and writes it to DIR/csr/<name>/. */
export async function certifyCsr(
  composed: Composition,
  root: string,
  request: {
    name: string;
    csrPath: string;
    csrPem: string;
    identifiers: string[];
    challenge: ChallengeType;
    profile: string | undefined;
  },
): Promise<CsrResult> {
  const spec = parseCertificateSpec(
    {
      name: request.name,
      identifiers: request.identifiers,
      challenge: request.challenge,
      ...(request.profile ? { profile: request.profile } : {}),
    },
    '--csr',
  );
  const { deps } = composed;
  const { ca, issued } = await issueAtAuthorities(
    deps,
    spec,
    { identifiers: spec.identifiers, profile: spec.profile, csrPem: request.csrPem },
    deps.solverFor(spec)!,
  );
  const { leaf, chain } = splitPemChain(issued.fullchainPem);
  if (!certificateMatchesCsr(leaf, request.csrPem)) {
    throw new IntegrityError(
      "the CA's certificate does not carry the request's public key",
      'do not use it; report it to the CA',
    );
  }
  const dir = join(root, 'csr', request.name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const files = {
    cert: join(dir, 'cert.pem'),
    chain: join(dir, 'chain.pem'),
    fullchain: join(dir, 'fullchain.pem'),
  };
  const contents = { cert: leaf, chain: chain.join(''), fullchain: issued.fullchainPem };
  for (const file of ['cert', 'chain', 'fullchain'] as const) {
    // Certificates are public: 0644, written beside and renamed so a reader never sees half.
    const temp = `${files[file]}.${process.pid}.tmp`;
    await writeFile(temp, contents[file], { mode: 0o644 });
    await chmod(temp, 0o644);
    await rename(temp, files[file]);
  }
  const parsed = parseCertificate(leaf);
  return {
    name: request.name,
    ordered: true,
    ca,
    csr: request.csrPath,
    identifiers: spec.identifiers.map((i) => i.value),
    profile: spec.profile ?? null,
    serial: parsed.serialHex,
    notBefore: parsed.notBefore.toISOString(),
    notAfter: parsed.notAfter.toISOString(),
    files,
  };
}
