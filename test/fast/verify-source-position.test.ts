import assert from "node:assert/strict";
import { test } from "node:test";
import type { Connection } from "mysql2/promise";
import { readSourcePosition } from "../../controller/planner/source-position.ts";
import { FakeClock } from "../../lib/clock.ts";

// The binary log position as each server flavour reports it, read from a scripted connection (no server needed).

type Answer = Record<string, unknown>[] | { code: string; message: string };
function server(answers: Record<string, Answer>): Connection {
  return {
    async query(sql: string) {
      const key = Object.keys(answers).find((k) => sql.startsWith(k));
      const a = key === undefined ? { code: "ER_PARSE_ERROR", message: `syntax: ${sql}` } : answers[key]!;
      if (!Array.isArray(a)) throw Object.assign(new Error(a.message), { code: a.code });
      return [a, []];
    },
  } as unknown as Connection;
}
const clock = new FakeClock(Date.parse("2026-12-01T10:00:00Z"));
const vars = (version: string, logBin: number) => [{ version, now: "2026-12-01 10:00:00.123456", logBin }];

test("MySQL 8.4: SHOW BINARY LOG STATUS, the executed GTID set", async () => {
  const pos = await readSourcePosition(
    server({
      "SELECT @@version": vars("8.4.3", 1),
      "SHOW BINARY LOG STATUS": [
        { File: "binlog.000042", Position: 1557, Executed_Gtid_Set: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77\n" },
      ],
    }),
    clock,
  );
  assert.deepEqual(pos, {
    takenAt: "2026-12-01T10:00:00.000Z",
    serverTime: "2026-12-01 10:00:00.123456",
    flavor: "mysql",
    version: "8.4.3",
    binlog: { file: "binlog.000042", position: "1557" },
    gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77",
  });
});

test("MariaDB with log-bin: SHOW MASTER STATUS (the new name is a syntax error there) and @@gtid_binlog_pos", async () => {
  const pos = await readSourcePosition(
    server({
      "SELECT @@version": vars("10.11.19-MariaDB", 1),
      "SHOW MASTER STATUS": [{ File: "mariadb-bin.000003", Position: "385" }],
      "SELECT @@gtid_binlog_pos": [{ g: "0-1-1042" }],
    }),
    clock,
  );
  assert.deepEqual(
    [pos.flavor, pos.binlog, pos.gtid, pos.reason],
    ["mariadb", { file: "mariadb-bin.000003", position: "385" }, "0-1-1042", undefined],
  );
});

test("binary logging off, or no privilege to read it: null with the reason, not an error", async () => {
  const off = await readSourcePosition(server({ "SELECT @@version": vars("10.11.19-MariaDB", 0) }), clock);
  assert.deepEqual([off.binlog, off.gtid], [null, null]);
  assert.match(off.reason ?? "", /binary logging is off .*log-bin/);
  const denied = await readSourcePosition(
    server({
      "SELECT @@version": vars("8.0.36", 1),
      "SHOW BINARY LOG STATUS": { code: "ER_PARSE_ERROR", message: "syntax" },
      "SHOW MASTER STATUS": {
        code: "ER_SPECIFIC_ACCESS_DENIED_ERROR",
        message: "Access denied; you need the REPLICATION CLIENT privilege",
      },
    }),
    clock,
  );
  assert.equal(denied.binlog, null);
  assert.match(denied.reason ?? "", /grant REPLICATION CLIENT/);
});
