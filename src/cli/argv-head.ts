/**
 * The head of the command line, read before commander runs: the program-wide options up to the
 * first command word. main.ts needs it to answer `--version` and to pick zod's mode before any
 * schema exists (zod-mode.ts); neither can wait for commander, which needs every module loaded.
 */

export interface ArgvHead {
  /** The first word that is not an option (`task` in `orchestra -w X task new`), if any. */
  command: string | undefined;
  /** `--version`/`-V` came before any command word. */
  versionAsked: boolean;
  /** `--json` appears before `--`. */
  json: boolean;
}

/** Reads process.argv-style arguments (without node and the script). */
export function readArgvHead(args: readonly string[]): ArgvHead {
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  const head = args.slice(0, end);
  const found: ArgvHead = { command: undefined, versionAsked: false, json: head.includes('--json') };
  for (let i = 0; i < head.length; i++) {
    const a = head[i]!;
    if (a === '--version' || a === '-V') found.versionAsked = true;
    else if (a === '-w' || a === '--workspace') i++;
    else if (!a.startsWith('-')) {
      found.command = a;
      break;
    }
  }
  return found;
}
