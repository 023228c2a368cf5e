// Stands in for axios's XHR adapter, whose export is already false on Node (see ../stand-ins.ts).
export default false;
