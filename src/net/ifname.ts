// Linux interface names, as dockgate accepts them from config, Docker and `ip -j`: IFNAMSIZ is 16
// with the NUL, '.' and '..' are not names, and nothing outside this set ever reaches a rule or a
// /proc/sys path.
export const IFNAME = /^(?!\.\.?$)[A-Za-z0-9_.:@-]{1,15}$/;
