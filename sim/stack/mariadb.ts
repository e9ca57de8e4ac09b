import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { freePort, isAlive, readyOrStop, startDetached, waitUntil } from "./proc.ts";
import type { LocalService, ServiceState } from "./service.ts";

export const MYSQL_USER = "spotferry";

/** MariaDB from Debian, in a private datadir, run as a plain process (these machines have no systemd). */
export const mariadbService: LocalService = {
  name: "mariadb",
  requirements: [
    { binary: "mariadbd", packages: ["mariadb-server"] },
    { binary: "mariadb-install-db", packages: ["mariadb-server"] },
  ],

  async start(ctx, previous) {
    const dir = join(ctx.home, "mariadb");
    const datadir = join(dir, "data");
    mkdirSync(dir, { recursive: true });
    if (!existsSync(join(datadir, "mysql"))) {
      ctx.log("mariadb: initialising a private datadir");
      execFileSync(
        "mariadb-install-db",
        ["--no-defaults", `--datadir=${datadir}`, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
    }
    const port = Number(previous?.extra.port) || (await freePort());
    const password = previous?.extra.password ?? randomBytes(12).toString("hex");
    const socket = join(dir, "mysqld.sock");
    const pid = startDetached(
      "mariadbd",
      [
        "--no-defaults",
        `--datadir=${datadir}`,
        `--socket=${socket}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--pid-file=${join(dir, "mysqld.pid")}`,
        `--log-error=${join(dir, "error.log")}`,
        "--user=root",
        "--skip-name-resolve",
        "--max-connections=1000",
        "--innodb-buffer-pool-size=1G",
        // Local rehearsal data is disposable: trade durability for fast test-table loads.
        "--innodb-flush-log-at-trx-commit=2",
        "--sync-binlog=0",
        "--max-allowed-packet=256M",
      ],
      { logFile: join(dir, "stdout.log") },
    );
    const state: ServiceState = { pids: [pid], port, extra: { port: String(port), password, socket } };
    const ready = waitUntil(
      "mariadb",
      async () => {
        const conn = await mysql.createConnection({ socketPath: socket, user: "root" });
        try {
          // The account is (re)created on every start, so a lost state file never locks us out.
          await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [MYSQL_USER, password]);
          await conn.query("ALTER USER ?@'%' IDENTIFIED BY ?", [MYSQL_USER, password]);
          await conn.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [MYSQL_USER]);
        } finally {
          await conn.end();
        }
        return true;
      },
      60_000,
      () => isAlive(pid),
    ).then(() => waitUntil("mariadb over TCP", () => this.healthy(state), 10_000));
    await readyOrStop([pid], ready);
    return state;
  },

  async healthy(state) {
    const conn = await mysql.createConnection({
      host: "127.0.0.1",
      port: state.port,
      user: MYSQL_USER,
      password: state.extra.password,
      connectTimeout: 2000,
    });
    try {
      const [rows] = await conn.query("SELECT 1 AS ok");
      return (rows as { ok: number }[])[0]?.ok === 1;
    } finally {
      await conn.end();
    }
  },

  env(state) {
    return {
      SPOTFERRY_MYSQL_HOST: "127.0.0.1",
      SPOTFERRY_MYSQL_PORT: String(state.port),
      SPOTFERRY_MYSQL_USER: MYSQL_USER,
      SPOTFERRY_MYSQL_PASSWORD: state.extra.password ?? "",
    };
  },
};
