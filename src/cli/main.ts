#!/usr/bin/env -S node --max-semi-space-size=1 --no-concurrent-recompilation
// Argument parsing and exit codes only; each command lives in its own module.
import { Command, CommanderError } from 'commander';
import { CliError } from './errors.js';
import { exitHelp } from './exit-codes.js';
import { usageNotes } from './help-text.js';
import { errorMessage } from '../util/errors.js';

// Each command's module is loaded when that command runs, not before: the daemon (`run`) stays
// free of what only the other commands use (the packet tracer, doctor, install and uninstall,
// jsonc-parser), and `--help` or `--version` loads nothing but commander.
const program = new Command()
  .name('dockgate')
  .description("Docker's firewall work, from container labels into dedicated iptables chains")
  .version('0.1.0')
  .exitOverride();

program
  .command('run')
  .description('run the daemon: watch Docker, keep the dockgate chains equal to what labels allow')
  .option('-c, --config <file>', 'config file (default /etc/dockgate/config.yaml; built-in defaults if it does not exist)')
  .addHelpText('after', exitHelp('run'))
  .action(async (o: { config?: string }) => (await import('./run.js')).runDaemon(o));

program
  .command('plan')
  .description('print the rules run would write for the containers running now; changes nothing')
  .option('-c, --config <file>', 'config file')
  .option('--json', 'print JSON instead of iptables-restore text')
  .addHelpText('after', exitHelp('plan'))
  .action(async (o: { config?: string; json?: boolean }) => (await import('./plan.js')).printPlan(o));

program
  .command('status')
  .description("each container's openings and label errors; whether the firewall matches the plan")
  .option('-c, --config <file>', 'config file')
  .option('--json', 'print JSON')
  .addHelpText('after', exitHelp('status'))
  .action(async (o: { config?: string; json?: boolean }) => {
    process.exitCode = await (await import('./status.js')).status(o);
  });

program
  .command('flush')
  .description('remove every dockgate chain and jump rule (refused while dockgate run is running here, unless --force)')
  .option('-c, --config <file>', 'config file')
  .option('--user-chain', 'also remove DOCKGATE-USER, the chain that holds your own rules (fail2ban bans), when nothing else jumps to it')
  .option('--force', 'flush even while dockgate run is running here (it puts every rule back at its next check); without it, flush refuses')
  .addHelpText('after', exitHelp('flush'))
  .action(async (o: { config?: string; userChain?: boolean; force?: boolean }) => (await import('./flush.js')).flush(o));

program
  .command('doctor')
  .description('check the host: iptables backend, Docker, its own iptables off, swarm, forwarding, jumps')
  .option('-c, --config <file>', 'config file')
  .option('--json', 'print JSON')
  .option('--root <dir>', 'look for daemon.json under this directory instead of / (for tests)')
  .addHelpText('after', exitHelp('doctor'))
  .action(async (o: { config?: string; json?: boolean; root?: string }) => {
    process.exitCode = await (await import('./doctor.js')).doctor(o);
  });

program
  .command('explain')
  .description('is this connection allowed, and why: the container and label, the rule lines, and anything else that drops it')
  .argument('<src-or-container>', 'the client address (IPv4, IPv6 or a CIDR), or a container name or id prefix')
  .argument('[host:port]', 'HOST:PORT[/tcp|/udp] it connects to (from a container: where the container connects to); IPv6 in brackets: [2001:db8::1]:8080/tcp')
  .option('-c, --config <file>', 'config file')
  .option('--in <iface>', 'the interface the connection arrives on (default: the route back to SRC)')
  .option('--json', 'print JSON')
  .addHelpText('after', exitHelp('explain'))
  .action(async (target: string, dest: string | undefined, o: { config?: string; json?: boolean; in?: string }) => {
    process.exitCode = await (await import('./explain.js')).explain(target, dest, o);
  });

program
  .command('check-config')
  .description('validate the config file, naming the key that is wrong; the unit runs it before every reload')
  .option('-c, --config <file>', 'config file (default /etc/dockgate/config.yaml)')
  .option('--log-json', "report as one JSON log line, as the daemon logs (the unit's reload uses it)")
  .addHelpText('after', exitHelp('check-config'))
  .action(async (o: { config?: string; logJson?: boolean }) => {
    process.exitCode = (await import('./check-config.js')).checkConfig(o);
  });

program
  .command('drops')
  .description('recent connection attempts dockgate turned away, by container and reason, asked of the running daemon (newest last)')
  .option('-c, --config <file>', 'config file (for drops.socket)')
  .option('--socket <path>', 'the daemon\'s drops socket (default: drops.socket from the config)')
  .option('-f, --follow', 'keep printing new entries as they come')
  .option('--json', 'one JSON object per line')
  .option('--since <duration>', 'only entries from the last DURATION: 90s, 15m, 2h, 1d')
  .option('--container <name>', 'only this container (its name or id prefix; "host" for drops no container is named in)')
  .addHelpText('after', exitHelp('drops'))
  .action(async (o: { config?: string; socket?: string; follow?: boolean; json?: boolean; since?: string; container?: string }) => (await import('./drops.js')).drops(o));

program
  .command('logs')
  .description("the daemon's log from the journal (journalctl -u dockgate), pretty-printed")
  .option('-f, --follow', 'keep printing new lines as they come')
  .option('-n, --lines <n>', 'only the last N lines')
  .addHelpText('after', exitHelp('logs'))
  .action(async (o: { follow?: boolean; lines?: string }) => {
    process.exitCode = await (await import('./logs.js')).logs(o);
  });

program
  .command('install')
  .description("install the systemd unit, the default config and Docker's daemon.json settings")
  .option('--root <dir>', 'install under this directory instead of /', '/')
  .option('--flush-docker-chains', "also remove Docker's old DOCKER* chains and the jumps to them")
  .option('--force', "with --flush-docker-chains: also remove the admin's own rules in DOCKER-USER")
  .addHelpText('after', exitHelp('install'))
  .action(async (o: { root?: string; flushDockerChains?: boolean; force?: boolean }) => (await import('./install.js')).install(o));

program
  .command('uninstall')
  .description('undo exactly what install did (as recorded in /var/lib/dockgate/install-state.json)')
  .option('--root <dir>', 'uninstall under this directory instead of /', '/')
  .addHelpText('after', exitHelp('uninstall'))
  .action(async (o: { root?: string }) => (await import('./install.js')).uninstall(o));

// Every command's --help ends with the config it reads (if any), an example and a pointer to the manual page.
for (const command of program.commands) {
  command.addHelpText('after', usageNotes(command.name(), command.options.some((o) => o.long === '--config')));
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof CliError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`dockgate: ${err instanceof Error && err.stack ? err.stack : errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}
