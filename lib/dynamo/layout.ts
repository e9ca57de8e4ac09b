import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import pkg from "../../package.json" with { type: "json" };
import type { Clock } from "../clock.ts";
import { ExitCode, UserError } from "../errors.ts";
import { conditionalPut, dynamoContext, getItem } from "./access.ts";
import { iso, LAYOUT_PK, META } from "./keys.ts";

/**
 * The state table's layout version. Every process that opens the table reads it once (one GetItem): a table newer
 * than this release knows is refused with one line and the upgrade path; an older one is migrated by a process that
 * may (the controller, and the CLI commands that create exports), step by step, each step conditional on the version
 * it starts from, so two migrators never both apply one.
 *
 * Layout 1 is the layout of every table written before the version existed (0, no layout item): the same items, so
 * its migration only stamps the version, and agents of a release before versioning (which never read the item)
 * interoperate with a controller of this one. A future step that changes items must say whether older agents can
 * still work on the table (`olderAgentsCompatible`); if not, rotate the pools (new generation, new bundle) so every
 * agent of the older release is drained before the controller migrates.
 */
export const STATE_LAYOUT = 1;

interface Migration {
  to: number;
  what: string;
  olderAgentsCompatible: boolean;
  run: (deps: { client: DynamoDBClient; tableName: string; clock: Clock }) => Promise<void>;
}

const MIGRATIONS: Migration[] = [
  { to: 1, what: "stamp the layout version (items unchanged)", olderAgentsCompatible: true, run: async () => {} },
];

export class LayoutError extends UserError {
  constructor(message: string) {
    super(message, { exitCode: ExitCode.unavailable });
    this.name = "LayoutError";
  }
}

export interface LayoutCheck {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
  /** May this process migrate an older table (controller, export creation), or only read it (agents, on-call)? */
  migrate: boolean;
  log?: (line: string) => void;
}

/** The layout of the table, after migrating it when allowed; throws LayoutError for a layout this release cannot use. */
export async function checkLayout(opts: LayoutCheck): Promise<number> {
  const ctx = dynamoContext(opts);
  const key = { pk: LAYOUT_PK, sk: META };
  const item = await getItem(ctx, key, `reading the layout version of state table ${opts.tableName}`);
  let version = item ? Number(item.version) : 0;
  if (version > STATE_LAYOUT) {
    throw new LayoutError(
      `state table ${opts.tableName} has layout ${version} (written by spotferry ${String(item?.writtenBy ?? "?")}); ` +
        `this spotferry ${pkg.version} knows layouts up to ${STATE_LAYOUT}: upgrade this spotferry ` +
        "(controllers first; then rotate the pools so every node runs the new agent bundle)",
    );
  }
  if (version === STATE_LAYOUT || !opts.migrate) return version;
  for (const step of MIGRATIONS.filter((m) => m.to > version)) {
    await step.run(opts);
    const stamped = await conditionalPut(
      ctx,
      {
        Item: { ...key, type: "LAYOUT", version: step.to, writtenBy: pkg.version, migratedAt: iso(opts.clock.now()) },
        ConditionExpression: version === 0 ? "attribute_not_exists(pk)" : "version = :from",
        ExpressionAttributeValues: version === 0 ? undefined : { ":from": version },
      },
      `migrating state table ${opts.tableName} to layout ${step.to}`,
    );
    // Lost the race to another migrator: it applied this step (or a later one); read where it got to.
    if (!stamped) return checkLayout({ ...opts, migrate: false });
    opts.log?.(`state table ${opts.tableName}: layout ${version} -> ${step.to} (${step.what})`);
    version = step.to;
  }
  return version;
}
