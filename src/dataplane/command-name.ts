// What a command is, as metrics and logs name it: the program's basename and a verb from a small
// fixed list. Labels of a Prometheus series must stay few, so nothing taken from the arguments
// (addresses, container ids, table names) ever becomes a verb unless it is in these lists.
import { basename } from 'node:path';

export interface CommandName {
  program: string;
  verb: string;
}

/** The verb of any command this file does not know (or an argument list it does not expect). */
export const OTHER_VERB = 'other';

const IPSET_VERBS = new Set(['save', 'restore', 'destroy', 'list', 'create', 'add', 'del', 'flush', 'swap', 'test', 'rename']);
const NFT_JSON_VERBS = new Set(['list', 'add', 'insert', 'delete', 'flush', 'create', 'replace', 'reset']);
const IP_OBJECTS = new Set(['route', 'rule', 'addr', 'link', 'neigh', 'netns']);
const CONNTRACK_VERBS: Readonly<Record<string, string>> = { '-D': 'delete', '-L': 'list', '-F': 'flush', '-C': 'count', '-E': 'events', '-S': 'stats' };
/** Wrappers that run one program in another namespace: the cost is the program's. */
const WRAPPERS = new Set(['nsenter', 'unshare']);

const isVersion = (args: readonly string[]): boolean => args.length === 1 && (args[0] === '--version' || args[0] === '-V' || args[0] === '-v');

/** The first argument that is not an option (ipset's `-exist restore` → restore). */
const firstWord = (args: readonly string[]): string | undefined => args.find((a) => !a.startsWith('-'));

/** nft's JSON command (`nft -j '{"nftables":[{"list":…}]}'`): its one command word, or 'batch'. */
function nftJsonVerb(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return OTHER_VERB;
  }
  const commands = (parsed as { nftables?: unknown }).nftables;
  if (!Array.isArray(commands)) return OTHER_VERB;
  const words = new Set(commands.flatMap((c) => (typeof c === 'object' && c !== null ? Object.keys(c) : [])));
  if (words.size !== 1) return words.size === 0 ? OTHER_VERB : 'batch';
  const [word] = words;
  return NFT_JSON_VERBS.has(word!) ? word! : OTHER_VERB;
}

function nftVerb(args: readonly string[]): string {
  if (args.includes('-f')) return 'write';
  const rest = args.filter((a) => a !== '-j' && a !== '--json');
  const first = rest[0];
  if (first === undefined) return OTHER_VERB;
  if (first.startsWith('{')) return nftJsonVerb(first);
  if (first === 'monitor') return 'monitor';
  return NFT_JSON_VERBS.has(first) ? first : OTHER_VERB;
}

function verbOf(program: string, args: readonly string[]): string {
  if (isVersion(args)) return 'version';
  // iptables-save, ip6tables-legacy-save, iptables-nft-restore, ...
  if (/^ip6?tables(-legacy|-nft)?-save$/.test(program)) return 'save';
  if (/^ip6?tables(-legacy|-nft)?-restore$/.test(program)) return 'restore';
  switch (program) {
    case 'ipset': {
      const w = firstWord(args);
      return w !== undefined && IPSET_VERBS.has(w) ? w : OTHER_VERB;
    }
    case 'nft':
      return nftVerb(args);
    case 'conntrack':
      return CONNTRACK_VERBS[args[0] ?? ''] ?? OTHER_VERB;
    case 'ip': {
      const w = firstWord(args);
      return w !== undefined && IP_OBJECTS.has(w) ? w : OTHER_VERB;
    }
    case 'cat':
      return 'read';
    case 'sh':
      return args[0] === '-c' ? 'script' : OTHER_VERB;
    case 'systemd-notify':
      return args.includes('--ready') ? 'ready' : OTHER_VERB;
    default:
      return OTHER_VERB;
  }
}

/** After a wrapper's own options (`nsenter --net=PATH`, `unshare --net --`): the program it runs. */
function unwrap(args: readonly string[]): { file: string; args: readonly string[] } | undefined {
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-')) {
    if (args[i] === '--') {
      i++;
      break;
    }
    i++;
  }
  const file = args[i];
  return file === undefined ? undefined : { file, args: args.slice(i + 1) };
}

/** The program and verb of `file args`; through nsenter or unshare, the program they run. */
export function commandName(file: string, args: readonly string[]): CommandName {
  const program = basename(file);
  if (WRAPPERS.has(program)) {
    const inner = unwrap(args);
    if (inner) return commandName(inner.file, inner.args);
  }
  return { program, verb: verbOf(program, args) };
}
