import * as z from 'zod';
import { IntegrityError, ValidationError } from '../model/errors.js';
import { NAME_PATTERN } from '../model/spec.js';
import { parseJson, zodToValidationError } from '../model/json.js';
import { BUNDLE_FILES, type BundleFile, bundleFileKey } from './layout.js';
import type { CertificateBundle, Manifest, ManifestFile, ManifestInput } from './store.js';

/** Serials become key segments: hex as CAs write them, nothing that could escape a prefix. */
const SERIAL_PATTERN = /^[0-9A-Za-z]{1,64}$/;

const manifestFile = z.object({ key: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
const timestamp = z.iso.datetime({ offset: true });

const manifestSchema = z.object({
  version: z.literal(1),
  name: z.string().regex(NAME_PATTERN),
  serial: z.string().regex(SERIAL_PATTERN),
  identifiers: z.array(z.string().min(1)).min(1),
  profile: z.string().optional(),
  keyType: z.string().min(1),
  notBefore: timestamp,
  notAfter: timestamp,
  issuedAt: timestamp,
  certId: z.string().optional(),
  ca: z.string().optional(),
  files: z.object({
    cert: manifestFile,
    chain: manifestFile,
    fullchain: manifestFile,
    privkey: manifestFile,
  }),
});

/**
 * Parses a stored manifest and refuses anything that does not describe the certificate it
 * is stored for, with files inside that serial's prefix: a reader following a bad manifest
 * would install the wrong files, so corruption is an IntegrityError naming the key.
 */
export function parseManifest(text: string, key: string, name: string): Manifest {
  const fix =
    'restore the previous version of the object (bucket versioning or a backup), or renew the certificate to write a new one';
  const corrupt = (problem: string): IntegrityError =>
    new IntegrityError(`manifest ${key} is corrupt: ${problem}`, fix);
  const m = parseJson(text, manifestSchema, {
    as: (p) => corrupt(p.kind === 'syntax' ? 'it is not JSON' : `${p.path || 'document'}: ${p.message}`),
  });
  if (m.name !== name) throw corrupt(`it names certificate "${m.name}"`);
  for (const file of BUNDLE_FILES) {
    const expected = bundleFileKey(m.name, m.serial, file);
    if (m.files[file].key !== expected) throw corrupt(`files.${file}.key is not ${expected}`);
  }
  // Spelled out so optional fields become explicit `undefined`, as the Manifest type says.
  return {
    version: 1,
    name: m.name,
    serial: m.serial,
    identifiers: m.identifiers,
    profile: m.profile,
    keyType: m.keyType,
    notBefore: m.notBefore,
    notAfter: m.notAfter,
    issuedAt: m.issuedAt,
    certId: m.certId,
    ...(m.ca ? { ca: m.ca } : {}),
    files: m.files,
  };
}

export function buildManifest(
  name: string,
  serial: string,
  meta: ManifestInput,
  files: Record<BundleFile, ManifestFile>,
): Manifest {
  return {
    version: 1,
    name,
    serial,
    identifiers: meta.identifiers,
    profile: meta.profile,
    keyType: meta.keyType,
    notBefore: meta.notBefore,
    notAfter: meta.notAfter,
    issuedAt: meta.issuedAt,
    certId: meta.certId,
    ...(meta.ca ? { ca: meta.ca } : {}),
    files,
  };
}

const manifestInputSchema = manifestSchema.omit({ version: true, name: true, serial: true, files: true });

/**
 * Refuses a bundle or metadata that cannot be what they claim before anything is written:
 * a manifest the readers would later call corrupt must not be stored in the first place.
 */
export function assertBundle(
  name: string,
  serial: string,
  bundle: CertificateBundle,
  meta: ManifestInput,
): void {
  const parsedMeta = manifestInputSchema.safeParse(meta);
  if (!parsedMeta.success) throw zodToValidationError(parsedMeta.error, 'meta');
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError(
      'name',
      `"${name}" is not a certificate name`,
      'use the name from the inventory',
    );
  }
  if (!SERIAL_PATTERN.test(serial)) {
    throw new ValidationError('serial', `"${serial}" is not a certificate serial`, 'pass the hex serial');
  }
  for (const file of ['cert', 'chain', 'fullchain'] as const) {
    if (!bundle[file].includes('-----BEGIN CERTIFICATE-----')) {
      throw new ValidationError(
        `bundle.${file}`,
        'holds no PEM certificate',
        'pass the PEM text from the CA',
      );
    }
  }
  // Never echo the value: it is (or should be) a private key.
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(bundle.privkey)) {
    throw new ValidationError('bundle.privkey', 'holds no PEM private key', 'pass the PEM private key');
  }
}
