/**
 * The forge adapter as a loop of `orchestra up` (`forge.poll: true`) and for `orchestra forge`:
 * resolves the forge (config + token), then runs a `ForgePoller` pass every `pollIntervalMs`
 * (longer when the forge asked to wait). It writes only inbox files and its own stream.
 */
import { OrchestraError } from '../../core/errors.js';
import type { ForgeConfig } from '../../core/forge-config.js';
import type { Logger } from '../../core/log.js';
import type { Workspace } from '../../core/workspace.js';
import { selectForge } from '../../forge/select.js';
import type { Forge } from '../../forge/types.js';
import type { Loop, LoopEnv } from '../../loops/loop.js';
import { ForgePoller, type PollReport } from './poller.js';

export { ForgePoller, OWN_MARK, type PollReport } from './poller.js';

/** The repository tasks from issues work on: config, else the public host's clone URL. */
export function taskRepoOf(config: ForgeConfig, forge: Forge): string {
  if (config.taskRepo) return config.taskRepo;
  if (config.apiBase) throw new OrchestraError('INVALID_INPUT', 'forge.taskRepo is required with forge.apiBase: name the repository tasks from issues work on (a repos name or URL)');
  return `https://${forge.kind === 'github' ? 'github.com' : 'gitlab.com'}/${forge.repo}.git`;
}

/** A poller for the workspace's configured forge; a clear error when there is none or no token. */
export function createPoller(ws: Workspace, log: Logger, env: NodeJS.ProcessEnv = process.env): ForgePoller {
  const config = ws.config.forge;
  if (config.kind === 'auto') throw new OrchestraError('INVALID_INPUT', 'forge polling needs forge.kind github or gitlab (auto only applies to pull requests)');
  const choice = selectForge(config, { env });
  if (!choice.forge) throw new OrchestraError(/TOKEN/.test(choice.reason) ? 'FORGE_AUTH' : 'INVALID_INPUT', `cannot poll the forge: ${choice.reason}`);
  return new ForgePoller(ws, choice.forge, { config, taskRepo: taskRepoOf(config, choice.forge), log });
}

export class ForgeLoop implements Loop {
  readonly name = 'forge';
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  private poller?: ForgePoller;
  last?: PollReport;

  constructor(private readonly env: LoopEnv) {}

  async start(): Promise<void> {
    this.poller = createPoller(this.env.ws, this.env.log);
    this.tick();
  }

  private tick(): void {
    if (this.stopped || !this.poller) return;
    this.running = this.poller.pollOnce()
      .then((report) => (this.last = report))
      .catch((err) => this.env.log.warn('forge poll failed', { error: (err as Error).message }))
      .finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(() => this.tick(), this.env.ws.config.forge.pollIntervalMs);
        this.timer.unref?.();
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  async idle(): Promise<boolean> {
    return true;
  }
}

export const createForgeLoop = (env: LoopEnv): Loop => new ForgeLoop(env);
