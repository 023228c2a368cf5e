// Stands in for axios's Node adapter, which certkeeper never uses: acme-client's instance runs
// on shared/acme/http-adapter.ts (see ../stand-ins.ts).
export default false;
