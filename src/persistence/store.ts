// The Store contract: what the server needs of persistence. One journal the engine writes to,
// recovery before listening, and a commit per loop turn that may be asynchronous (a store over
// the network resolves later; the server holds a sync turn's replies until then and keeps
// serving meanwhile). SQLite (sqlite-store.ts) implements it today, PostgreSQL later.

import type { Engine } from "../engine/engine.ts";
import { noJournal, type Journal } from "../engine/journal.ts";

export interface Store {
  readonly journal: Journal;
  /** One phrase for the start-up log: storage and durability mode. */
  readonly description: string;
  /** Replays stored state into the engine before the server listens. */
  recover(engine: Engine): void | Promise<void>;
  /**
   * Commits what the journal gathered since the last commit (group commit). A Promise means the
   * commit finishes later; the journal takes new entries meanwhile, and commits finish in order.
   * A failure (throw or rejection) is fatal: the server stops rather than acknowledge unsaved work.
   */
  commit(): void | Promise<void>;
  /** sync mode: the replies of a turn go out only after that turn's commit has finished. */
  readonly holdRepliesUntilCommit: boolean;
  close(): void | Promise<void>;
}

export const memoryStore: Store = {
  journal: noJournal,
  description: "storage: memory only (no DATA_PATH; jobs do not survive a restart)",
  recover() {},
  commit() {},
  holdRepliesUntilCommit: false,
  close() {},
};
