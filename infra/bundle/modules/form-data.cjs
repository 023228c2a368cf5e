// Stands in for the form-data package axios requires: Node's own FormData, looked up when a
// form is built (see ../stand-ins.ts).
module.exports = class FormData {
  constructor(...args) {
    return new globalThis.FormData(...args);
  }
  static [Symbol.hasInstance](value) {
    return value instanceof globalThis.FormData;
  }
};
