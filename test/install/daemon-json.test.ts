import { describe, expect, it } from 'vitest';
import { mergeDaemonJson, readDaemonSettings, revertDaemonJson, wantedDockerSettings } from '../../src/install/daemon-json.js';
import { JsonSyntaxError, memberText, parseObjectText, removeMember, setMember } from '../../src/install/json-text.js';

describe('parseObjectText', () => {
  it.each([
    ['{"a": 1,}', 1, 9, 'trailing comma'],
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3, 'expected "," or "}" after the value of "a"'],
    ['{\n  a: 1\n}', 2, 3, 'expected a key in double quotes'],
    ["{\n  'a': 1\n}", 2, 3, 'expected a key in double quotes'],
    ['', 1, 1, 'the file is empty'],
    ['[1, 2]', 1, 1, 'must hold one JSON object'],
    ['{"a": tru}', 1, 7, 'expected a value'],
    ['{"a": 1} x', 1, 10, 'after the closing "}"'],
    ['{"a": "x\ny"}', 1, 9, 'control character'],
    ['{"a": 01}', 1, 8, 'expected "," or "}"'],
    ['{"a": 1', 1, 8, 'expected "," or "}"'],
    ['\ufeff{}', 1, 1, 'byte order mark'],
  ])('rejects %j at line %i, column %i', (text, line, column, reason) => {
    let err: unknown;
    try {
      parseObjectText(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JsonSyntaxError);
    const e = err as JsonSyntaxError;
    expect(e.message).toContain(reason);
    expect([e.line, e.column]).toEqual([line, column]);
    expect(e.message).toMatch(new RegExp(`^invalid JSON at line ${line}, column ${column}: `));
  });

  it('reads what JSON.parse reads', () => {
    const text = '{ "a": [1, -2.5e3, {"b": null}], "c": "\\u00e9\\n", "d": {}, "e": [], "f": true }';
    const obj = parseObjectText(text);
    expect(readDaemonSettings(text)).toEqual(JSON.parse(text));
    expect(obj.members.map((m) => m.key)).toEqual(['a', 'c', 'd', 'e', 'f']);
    expect(text.slice(obj.members[0]!.valueStart, obj.members[0]!.valueEnd)).toBe('[1, -2.5e3, {"b": null}]');
  });

  it('refuses a key given twice when asked for that key', () => {
    expect(() => memberText('{"iptables": true, "iptables": false}', 'iptables')).toThrow(/appears more than once/);
    expect(memberText('{"a": 1, "a": 2, "b": 3}', 'b')).toBe('3');
  });
});

describe('setMember / removeMember', () => {
  it('replaces a value in place and appends in the file\'s own layout', () => {
    const text = '{\n    "log-driver": "journald",\n    "iptables": true\n}\n';
    const a = setMember(text, 'iptables', 'false');
    expect(a).toBe('{\n    "log-driver": "journald",\n    "iptables": false\n}\n');
    const b = setMember(a, 'ip-forward', 'false');
    expect(b).toBe('{\n    "log-driver": "journald",\n    "iptables": false,\n    "ip-forward": false\n}\n');
    expect(removeMember(b, 'ip-forward')).toBe(a);
  });

  it('fills an empty object with 2-space lines', () => {
    expect(setMember('{}\n', 'iptables', 'false')).toBe('{\n  "iptables": false\n}\n');
    expect(setMember(setMember('{}', 'a', '1'), 'b', '2')).toBe('{\n  "a": 1,\n  "b": 2\n}');
  });

  it('keeps a compact one-line file compact', () => {
    expect(setMember('{"a":1}', 'b', 'false')).toBe('{"a":1,"b":false}');
    expect(removeMember('{"a":1,"b":false}', 'b')).toBe('{"a":1}');
  });

  it('removes first, middle, last and only members cleanly', () => {
    const t = '{\n  "a": 1,\n  "b": 2,\n  "c": 3\n}';
    expect(removeMember(t, 'a')).toBe('{\n  "b": 2,\n  "c": 3\n}');
    expect(removeMember(t, 'b')).toBe('{\n  "a": 1,\n  "c": 3\n}');
    expect(removeMember(t, 'c')).toBe('{\n  "a": 1,\n  "b": 2\n}');
    expect(removeMember('{\n  "a": 1\n}', 'a')).toBe('{\n}');
    expect(removeMember(t, 'zzz')).toBe(t);
  });
});

describe('mergeDaemonJson / revertDaemonJson', () => {
  const original = '{\n  "data-root": "/srv/docker",\n  "iptables": true,\n  "ip-forward": false,\n  "log-opts": {"max-size": "10m"}\n}\n';

  it('sets only the keys that differ and remembers their old text', () => {
    const r = mergeDaemonJson(original, wantedDockerSettings('proxy'));
    expect(r.changes).toEqual([
      { key: 'iptables', previous: 'true', next: 'false' },
      { key: 'ip6tables', previous: null, next: 'false' },
    ]);
    expect(JSON.parse(r.text)).toEqual({ 'data-root': '/srv/docker', iptables: false, 'ip-forward': false, 'log-opts': { 'max-size': '10m' }, ip6tables: false });
    // every other key's text is untouched
    expect(r.text).toContain('"log-opts": {"max-size": "10m"}');
  });

  it('dnat mode also turns userland-proxy off', () => {
    expect(wantedDockerSettings('dnat').map((w) => w.key)).toEqual(['iptables', 'ip6tables', 'ip-forward', 'userland-proxy']);
    expect(wantedDockerSettings('proxy').map((w) => w.key)).not.toContain('userland-proxy');
  });

  it('reverts to the exact old text', () => {
    const r = mergeDaemonJson(original, wantedDockerSettings('dnat'));
    const back = revertDaemonJson(r.text, r.changes);
    expect(back.text).toBe(original);
    expect(back.leftAlone).toEqual([]);
  });

  it('leaves a key alone that someone changed after install', () => {
    const r = mergeDaemonJson(original, wantedDockerSettings('proxy'));
    const edited = setMember(r.text, 'ip6tables', 'true');
    const back = revertDaemonJson(edited, r.changes);
    expect(back.reverted.map((c) => c.key)).toEqual(['iptables']);
    expect(back.leftAlone).toEqual([{ key: 'ip6tables', previous: null, next: 'false', now: 'true' }]);
    expect(JSON.parse(back.text)).toMatchObject({ iptables: true, ip6tables: true });
  });

  it('is a no-op on a file that already has every setting', () => {
    const done = mergeDaemonJson(original, wantedDockerSettings('proxy')).text;
    expect(mergeDaemonJson(done, wantedDockerSettings('proxy'))).toEqual({ text: done, changes: [] });
  });
});
