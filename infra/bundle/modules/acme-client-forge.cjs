// Stands in for acme-client's ./crypto/forge (node-forge) in the bundles: see ../stand-ins.ts.
const message = 'acme.forge (node-forge) is not bundled into certkeeper Lambdas: use acme.crypto';

module.exports = new Proxy(
  {},
  {
    get(_, key) {
      if (typeof key === 'symbol' || key === 'then' || key === '__esModule') return undefined;
      throw new Error(message + ' (read acme.forge.' + key + ')');
    },
  },
);
