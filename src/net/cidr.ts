// Superseded by ./address.ts, which owns address parsing. Kept only for the modules being
// rewritten into typed rules (hostfw/analysis.ts, plan/antispoof.ts); they import address.ts
// when they change, and this file goes.
export { formatIPv4, formatIPv6, parseAddress, parseCidr, parseIPv4, parseIPv6 } from './address.js';
