// The record `dockgate install` keeps of what it did, so that `uninstall` undoes exactly that and
// nothing else. Paths are relative to the install root, written as absolute paths ('/etc/...').
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { errorMessage } from '../util/errors.js';
import type { Result } from '../model/result.js';

export const UNIT_PATH = '/etc/systemd/system/dockgate.service';
export const CONFIG_PATH = '/etc/dockgate/config.yaml';
export const STATE_PATH = '/var/lib/dockgate/install-state.json';
/** Where `systemctl enable` puts its link: uninstalling while it exists would strand the service. */
export const ENABLED_LINK = '/etc/systemd/system/multi-user.target.wants/dockgate.service';

const keyChange = z.object({ key: z.string(), previous: z.string().nullable(), next: z.string() }).strict();

const fileRecord = z
  .object({
    path: z.string().startsWith('/'),
    role: z.enum(['unit', 'config']),
    /** The file's text before install replaced it; null when install created it. */
    previousText: z.string().nullable(),
    writtenSha256: z.string(),
  })
  .strict();

const daemonJsonRecord = z
  .object({
    path: z.string().startsWith('/'),
    /** The file did not exist before: uninstall deletes it (while it holds only what install wrote). */
    created: z.boolean(),
    /**
     * The whole file as it was before, while nobody else has edited it since: uninstall then puts
     * these exact bytes back. null once the admin has edited the file (keys are reverted one by one).
     */
    originalText: z.string().nullable(),
    writtenSha256: z.string(),
    changes: z.array(keyChange),
  })
  .strict();

export const installStateSchema = z
  .object({
    version: z.literal(1),
    /** Directories install created, parents first. */
    dirs: z.array(z.string().startsWith('/')),
    files: z.array(fileRecord),
    daemonJson: daemonJsonRecord.nullable(),
  })
  .strict();

export type InstallState = z.infer<typeof installStateSchema>;
export type FileRecord = z.infer<typeof fileRecord>;
export type DaemonJsonRecord = z.infer<typeof daemonJsonRecord>;

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function renderState(state: InstallState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** Parses the state file; the message names what is wrong (the caller adds the file name). */
export function parseState(text: string): Result<InstallState> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not valid JSON (${errorMessage(err)})` };
  }
  const r = installStateSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    return { ok: false, error: `unexpected content at ${issue?.path.join('.') || 'the top level'}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, value: r.data };
}
