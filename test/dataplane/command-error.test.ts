// What ipset and nft throw when their command fails: one CommandError each, told apart by class,
// saying how the command ended. Runs only `false` and a program that is not there: no root, no
// firewall touched.
import { describe, expect, it } from 'vitest';
import { CommandError } from '../../src/dataplane/command-error.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { IpsetError, Ipsets } from '../../src/dataplane/ipset.js';
import { Nft, NftError } from '../../src/dataplane/nft.js';

const NOWHERE = '/nonexistent/dockgate-test/cmd';

async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('command errors', () => {
  const queue = new CommandQueue();

  it('ipset that is not there: an IpsetError that says it is missing', async () => {
    const err = await thrown(new Ipsets(queue, NOWHERE).read());
    expect(err).toBeInstanceOf(IpsetError);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).not.toBeInstanceOf(NftError);
    const e = err as IpsetError;
    expect(e.name).toBe('IpsetError');
    expect(e.missing).toBe(true);
    expect(e.ended.kind).toBe('not-found');
    expect(e.message).toContain(NOWHERE);
    expect(String(e)).toMatch(/^IpsetError: /);
  });

  it('ipset that fails: an IpsetError, not missing', async () => {
    const e = (await thrown(new Ipsets(queue, 'false').read())) as IpsetError;
    expect(e).toBeInstanceOf(IpsetError);
    expect(e.missing).toBe(false);
    expect(e.ended).toMatchObject({ kind: 'exited', code: 1 });
  });

  it('nft that is not there, and nft that refuses', async () => {
    const gone = (await thrown(new Nft(queue, NOWHERE).listRuleset())) as NftError;
    expect(gone).toBeInstanceOf(NftError);
    expect(gone).toBeInstanceOf(CommandError);
    expect(gone).not.toBeInstanceOf(IpsetError);
    expect(gone.name).toBe('NftError');
    expect(gone.message).toBe(`${NOWHERE} not found: install the nftables package`);
    expect(gone.missing).toBe(true);
    expect(gone.refused).toBe(false);
    const refused = (await thrown(new Nft(queue, 'false').listRuleset())) as NftError;
    expect(refused.missing).toBe(false);
    expect(refused.refused).toBe(true);
    expect(String(refused)).toMatch(/^NftError: false list ruleset/);
  });
});
