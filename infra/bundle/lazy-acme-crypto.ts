/**
 * acme-client's crypto module requires @peculiar/x509 and asn1js (with reflect-metadata,
 * tslib and eight @peculiar/asn1-* packages: ~10 ms of every CLI start) at load, for its CSR
 * and certificate helpers, which certkeeper does not call on the way to a certificate
 * (shared/pki/csr.ts builds the request with node:crypto; the client itself only needs
 * getJwk and getPemBodyAsB64u). In the CLI bundle both are required on first use instead, and
 * getPemBodyAsB64u (finalize's CSR, revocation's certificate: the first PEM block's body as
 * base64url) reads the PEM itself rather than through x509's PemConverter.
 *
 * An esbuild plugin of the CLI build only (scripts/cli-bundle.ts): the Lambdas' bundles are
 * measured on their own budget (infra/bundle.ts).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type * as esbuild from 'esbuild';

const ACME_CRYPTO = /[\\/]node_modules[\\/]acme-client[\\/]src[\\/]crypto[\\/]index\.js$/;
const ACME_CRYPTO_EAGER = [
  "const asn1js = require('asn1js');\n",
  "const x509 = require('@peculiar/x509');\n",
  'x509.cryptoProvider.set(crypto.webcrypto);\n',
] as const;
/** Appended to the module: getPemBodyAsB64u without x509 (modules/acme-pem-body.cjs). */
const PEM_BODY_AS_B64U = fileURLToPath(new URL('./modules/acme-pem-body.cjs', import.meta.url));

export const lazyAcmeCrypto: esbuild.Plugin = {
  name: 'lazy-acme-crypto',
  setup(build) {
    build.onLoad({ filter: ACME_CRYPTO }, async (args) => {
      const [source, pemBody] = await Promise.all([
        readFile(args.path, 'utf8'),
        readFile(PEM_BODY_AS_B64U, 'utf8'),
      ]);
      if (!ACME_CRYPTO_EAGER.every((line) => source.split(line).length === 2)) {
        throw new Error(`${args.path}: acme-client changed how it loads x509/asn1js; update lazyAcmeCrypto`);
      }
      const [asn1, x509, provider] = ACME_CRYPTO_EAGER;
      const lazy = (name: string, load: string): string =>
        `let ${name}Loaded;\nconst ${name} = new Proxy({}, { get: (_, key) => (${name}Loaded ??= ${load})[key] });\n`;
      return {
        contents: source
          .replace(asn1, lazy('asn1js', "require('asn1js')"))
          .replace(
            x509,
            lazy(
              'x509',
              "(() => { const m = require('@peculiar/x509'); m.cryptoProvider.set(crypto.webcrypto); return m; })()",
            ),
          )
          .replace(provider, '')
          .concat('\n', pemBody),
        loader: 'js',
      };
    });
  },
};
