import { bwrapArgs } from './bwrap-args.js';
import type { SandboxUser } from './sandbox-user.js';

/** bwrap ... -- [setpriv ... --]: everything before `/bin/sh -c SCRIPT`. */
export function sandboxArgv(
  bwrap: { path: string; proc: boolean; setpriv: string | null },
  view: { cwd: string; network: 'off' | 'on'; readOnly: readonly string[]; writable: readonly string[]; hide: readonly string[] },
  user: SandboxUser | null,
  extra: readonly string[] = [],
): string[] {
  const argv = [bwrap.path, ...bwrapArgs({ ...view, proc: bwrap.proc, otherUser: user !== null }), ...extra, '--'];
  if (user) {
    if (!bwrap.setpriv) throw new Error('setpriv is required to drop root');
    argv.push(
      bwrap.setpriv,
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
    );
  }
  return argv;
}
