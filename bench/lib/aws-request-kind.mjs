/**
 * What an outgoing HTTP request is, for the benchmarks' request counts: "service operation",
 * the service from the SigV4 credential scope, the operation from X-Amz-Target (DynamoDB,
 * SQS), or for S3 the method and which object (a serial's file, the manifest, a token...), a
 * LIST as LIST. Requests without a SigV4 scope are "acme" (to `caOrigin`, over HTTPS) or
 * "other". Plain JavaScript so that the hosts that run built bundles in plain `node`
 * (lambda-host.mjs, fleet-tick-host.mjs) can load it.
 *
 * @param {import('node:http').ClientRequest} request
 * @param {string | undefined} caOrigin
 * @returns {string}
 */
export function requestKind(request, caOrigin) {
  const auth = String(request.getHeader('authorization') ?? '');
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
  const origin = `${request.protocol}//${request.host}:${request.socket?.remotePort ?? ''}`;
  let service;
  let operation;
  if (scope) {
    service = scope[1];
    const target = String(request.getHeader('x-amz-target') ?? '');
    if (target) operation = target.split('.').pop();
    else if (service === 's3') {
      // Which object: the file name of a serial, the manifest, the kept key, a token.
      const path = request.path.split('?')[0];
      const object = path.includes('/challenges/http-01/')
        ? 'http-01 token'
        : path.includes('/pending/')
          ? `pending/${path.split('/').pop()}`
          : path.split('/').pop();
      operation = /[?&]list-type=/.test(request.path)
        ? 'LIST'
        : `${request.method}${/[?&]tagging/.test(request.path) ? ' tagging' : ''} ${object}`;
    } else if (service === 'route53') {
      // /2013-04-01/hostedzone/ID/rrset, /2013-04-01/change/ID, /2013-04-01/hostedzone...
      const parts = request.path.split('?')[0].split('/');
      operation = `${request.method} ${parts[4] ?? parts[2]}`;
    } else operation = request.method;
  } else {
    service = caOrigin && origin.startsWith('https') ? 'acme' : 'other';
    operation = request.method;
  }
  return `${service} ${operation}`;
}
