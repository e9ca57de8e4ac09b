import type { Requirement } from "./packages.ts";

/** What the stack remembers of a running service between commands (in `.spotferry/stack.json`). */
export interface ServiceState {
  /** Process-group leaders this stack started; `local down` stops exactly these. */
  pids: number[];
  port: number;
  /** Service-specific values that must survive restarts (ports baked into rings, generated passwords). */
  extra: Record<string, string>;
}

export interface StackContext {
  /** The stack's private directory (`.spotferry/` by default). */
  home: string;
  log: (line: string) => void;
}

/**
 * One local service. Contract: `start` brings up a fresh instance (reusing `previous.extra` so credentials and
 * on-disk layouts stay valid) and resolves only once it answers real client calls; `healthy` is a real client
 * call, not a port probe; `env` is what clients need to reach it.
 */
export interface LocalService {
  name: string;
  requirements: Requirement[];
  start(ctx: StackContext, previous: ServiceState | undefined): Promise<ServiceState>;
  healthy(state: ServiceState): Promise<boolean>;
  /** Brings a healthy server that `up` reuses to what `start` would make now (accounts, file modes). */
  migrate?(ctx: StackContext, state: ServiceState): Promise<void>;
  env(state: ServiceState): Record<string, string>;
}
