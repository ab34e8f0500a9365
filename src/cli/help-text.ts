// What each command's `--help` says after its options and exit codes: where the config comes
// from (for commands that read it) and an example. Free of imports, like exit-codes.ts: main.ts
// reads it before it knows which command runs (the config loader would load YAML and zod).

/** The config path when --config is not given; test/docs/help.test.ts checks it is DEFAULT_CONFIG_PATH. */
export const DEFAULT_CONFIG_PATH_SHOWN = '/etc/dockgate/config.yaml';

/** One or two example command lines per command, each with what it does. */
export const EXAMPLES: Readonly<Record<string, ReadonlyArray<readonly [line: string, what: string]>>> = {
  run: [['dockgate run --config /etc/dockgate/config.yaml', 'as the systemd unit starts it (systemctl start dockgate)']],
  plan: [['dockgate plan | less', 'every rule the daemon would write now, before you start it']],
  status: [['dockgate status', 'each container and its openings; exit 3 if the firewall is not as the labels say']],
  flush: [['systemctl stop dockgate && dockgate flush', "remove dockgate's rules (stop the daemon first: it would put them back)"]],
  doctor: [['dockgate doctor', 'check the host after installing, and whenever something does not work']],
  explain: [
    ['dockgate explain 203.0.113.7 10.0.0.5:443', 'would this client reach port 443 on 10.0.0.5, and why'],
    ['dockgate explain web', 'what is opened for the container named web'],
    ['dockgate explain web 203.0.113.10:443', 'may the container web connect to 203.0.113.10:443 (its egress list, and the DNS name that allows it)'],
  ],
  'check-config': [['dockgate check-config && systemctl reload dockgate', 'apply an edited config only if it is valid']],
  drops: [['dockgate drops --since 15m', 'what dockgate turned away in the last 15 minutes']],
  logs: [['dockgate logs -f', "follow the daemon's log"]],
  install: [['dockgate install', "Docker's settings and the unit; then the steps it prints (docs: /usr/share/doc/dockgate/docs/install.md)"]],
  uninstall: [['systemctl disable --now dockgate && dockgate uninstall', 'undo what install did; then the steps it prints']],
};

/** The text after the exit-status block of one command's --help. */
export function usageNotes(command: string, readsConfig: boolean): string {
  const blocks: string[] = [];
  if (readsConfig) blocks.push(`Config: ${DEFAULT_CONFIG_PATH_SHOWN} unless --config FILE; a missing file there means the built-in defaults.`);
  const examples = EXAMPLES[command] ?? [];
  if (examples.length > 0) {
    blocks.push([examples.length === 1 ? 'Example:' : 'Examples:', ...examples.flatMap(([line, what]) => [`  ${line}`, `      ${what}`])].join('\n'));
  }
  blocks.push('More: man dockgate');
  return blocks.join('\n\n');
}
