// The kernel model the fuzz tests apply restore texts to: --noflush semantics, and what
// iptables-restore refuses.
import { describe, expect, it } from 'vitest';
import { applyRestore, emptyKernel, kernelView } from './kernel-model.js';

const C = 'DOCKGATE-OPENINGS-ab';

describe('kernel model', () => {
  it('applies --noflush semantics and refuses what iptables-restore refuses', () => {
    const k = emptyKernel();
    applyRestore(k, `*filter\n:${C} - [0:0]\n-A ${C} -m comment --comment x -j ACCEPT\n-I INPUT 1 -m comment --comment d -j ${C}\nCOMMIT\n`);
    expect(kernelView(k)).toEqual({ [`filter/${C}`]: ['-m comment --comment x -j ACCEPT'], 'filter/INPUT': [`-m comment --comment d -j ${C}`] });
    expect(() => applyRestore(k, `*filter\n-X ${C}\nCOMMIT\n`)).toThrow(/not empty/);
    expect(() => applyRestore(k, `*filter\n:${C} - [0:0]\n-X ${C}\nCOMMIT\n`)).toThrow(/referenced/);
    expect(() => applyRestore(k, `*filter\n-D ${C} -j DROP\nCOMMIT\n`)).toThrow(/does not exist/);
    expect(() => applyRestore(k, '*filter\n-A DOCKGATE-NOPE -j DROP\nCOMMIT\n')).toThrow(/no such chain/);
    // A failed block changes nothing.
    expect(kernelView(k)).toEqual({ [`filter/${C}`]: ['-m comment --comment x -j ACCEPT'], 'filter/INPUT': [`-m comment --comment d -j ${C}`] });
  });
});
