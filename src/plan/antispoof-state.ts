// The `bridge dockgate` table as the kernel holds it (`nft -j list table bridge dockgate`), and how
// it differs from the plan's: what drift repair rewrites. Pure.
import type { BridgeFilter } from '../model/types.js';
import { SET_NAMES, type SetName, canonicalIPv6, elements, quotedPort } from './antispoof.js';
import { byText } from '../util/compare.js';


/** The table as the kernel holds it: each set's element keys, and its sets and chain without handles. */
export interface BridgeState {
  elements: Record<SetName, string[]>;
  /** Everything but elements and handles, as JSON text: compared with the listed skeleton. */
  shape: string;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An element as nft -j prints it, as the key `elements` makes: the interface quoted, IPv6 in RFC 5952. */
function keyOf(set: SetName, val: unknown): string | undefined {
  const address = (p: unknown): string | undefined => (typeof p !== 'string' ? undefined : set === 'own6' || set === 'known6' ? canonicalIPv6(p) : p);
  if (set === 'ports') return typeof val === 'string' ? quotedPort(val) : undefined;
  if (set === 'known4' || set === 'known6') return address(val);
  if (!isObj(val) || !Array.isArray(val.concat) || val.concat.length !== 2 || typeof val.concat[0] !== 'string') return undefined;
  const second = address(val.concat[1]);
  return second === undefined ? undefined : `${quotedPort(val.concat[0])} . ${second}`;
}

/** Parses `nft -j list table bridge dockgate`; undefined when the table is absent. */
export function parseBridgeState(json: string): BridgeState | undefined {
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch {
    return undefined;
  }
  const items = isObj(root) && Array.isArray(root.nftables) ? (root.nftables as unknown[]) : [];
  const els = Object.fromEntries(SET_NAMES.map((s) => [s, [] as string[]])) as Record<SetName, string[]>;
  const shape: unknown[] = [];
  let table = false;
  for (const item of items) {
    if (!isObj(item)) continue;
    if (isObj(item.table)) table = true;
    if (isObj(item.set)) {
      const { elem, handle: _h, ...rest } = item.set;
      shape.push({ set: rest });
      const name = rest.name as SetName;
      if (!SET_NAMES.includes(name)) continue;
      for (const e of Array.isArray(elem) ? elem : []) {
        const val = isObj(e) && isObj(e.elem) ? e.elem.val : e;
        const key = keyOf(name, val);
        els[name].push(key ?? JSON.stringify(val));
      }
      els[name].sort(byText);
    } else if (isObj(item.chain)) {
      const { handle: _h, ...rest } = item.chain;
      shape.push({ chain: rest });
    } else if (isObj(item.rule)) {
      const { handle: _h, ...rest } = item.rule;
      shape.push({ rule: rest });
    } else if (isObj(item.limit)) {
      const { handle: _h, ...rest } = item.limit;
      shape.push({ limit: rest });
    } else if (!isObj(item.metainfo) && !isObj(item.table)) {
      shape.push(item);
    }
  }
  return table ? { elements: els, shape: JSON.stringify(shape) } : undefined;
}

/** How the kernel's table differs from the plan. */
export interface BridgeDrift {
  clean: boolean;
  /** The table is not there at all. */
  absent: boolean;
  /** Sets or chain differ from the skeleton (a rule edited, added or removed). */
  shapeChanged: boolean;
  /** `set key` lines. */
  missing: string[];
  unexpected: string[];
}

export function bridgeDrift(filter: BridgeFilter, state: BridgeState | undefined, skeletonShape: string): BridgeDrift {
  if (state === undefined) return { clean: false, absent: true, shapeChanged: false, missing: [], unexpected: [] };
  const want = elements(filter);
  const missing: string[] = [];
  const unexpected: string[] = [];
  for (const s of SET_NAMES) {
    const have = new Set(state.elements[s]);
    const wanted = new Set(want[s].map((e) => e.key));
    for (const k of wanted) if (!have.has(k)) missing.push(`${s} ${k}`);
    for (const k of have) if (!wanted.has(k)) unexpected.push(`${s} ${k}`);
  }
  const shapeChanged = state.shape !== skeletonShape;
  return { clean: !shapeChanged && missing.length + unexpected.length === 0, absent: false, shapeChanged, missing, unexpected };
}
