// Stands in for axios's fetch adapter: reported unavailable instead of built (see ../stand-ins.ts).
export const getFetch = () => false;
export default false;
