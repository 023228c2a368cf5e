// Appended to acme-client's crypto module in the CLI bundle (see ../lazy-acme-crypto.ts): the
// first PEM block's body as base64url, read without @peculiar/x509's PemConverter.
exports.getPemBodyAsB64u = (pem) => {
  const block = /-----BEGIN [A-Z0-9 ]+-----([A-Za-z0-9+/=\s]*?)-----END [A-Z0-9 ]+-----/.exec(String(pem));
  if (!block) throw new Error('Unable to parse PEM body from string');
  return Buffer.from(block[1].replace(/\s+/g, ''), 'base64').toString('base64url');
};
