import type { Actor } from '../core/actor.js';
import type { Logger } from '../core/log.js';
import type { Workspace } from '../core/workspace.js';

/** A loop runs on its own, watches the workspace and writes records; it never calls another loop. */
export interface Loop {
  readonly name: string;
  start(): Promise<void>;
  /** Stop claiming; let in-flight work finish or release its leases; resolve when quiet. */
  stop(): Promise<void>;
  /** True when nothing is queued or running and a fresh scan finds nothing this loop could do now. */
  idle(): Promise<boolean>;
}

export interface LoopEnv {
  ws: Workspace;
  actor: Actor;
  log: Logger;
}
