import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { ensureStackAccounts, MYSQL_USER } from "./mariadb-accounts.ts";
import { freePort, isAlive, readyOrStop, startDetached, waitUntil } from "./proc.ts";
import type { LocalService, ServiceState } from "./service.ts";

export { MYSQL_USER };

/** The server's directory is the owner's alone: root's socket (no password) and the CA key live in it. */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
}

/** The stack's TLS files for MariaDB, under `<home>/mariadb/tls/`. */
export interface MariadbTls {
  ca: string;
  cert: string;
  key: string;
}

/**
 * A private CA and a server certificate it signs, made once with the openssl CLI and kept in the stack's home. The
 * certificate names IP:127.0.0.1 only, no DNS name: verify-full to 127.0.0.1 passes and to "localhost" fails, which
 * is how the tests tell verify-full (host checked) from verify-ca (chain only).
 */
export function ensureMariadbTls(dir: string, log: (line: string) => void): MariadbTls {
  const tls = { ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server-key.pem") };
  const caKey = join(dir, "ca-key.pem");
  if ([tls.ca, tls.cert, tls.key, caKey].every((f) => existsSync(f))) return tls;
  log("mariadb: making a local CA and a server certificate for 127.0.0.1");
  // A partial set (an interrupted run) is never mixed with new files: the server key must match its certificate.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ext = join(dir, "server.ext");
  writeFileSync(
    ext,
    "subjectAltName = IP:127.0.0.1\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
  );
  const openssl = (args: string[]) => {
    try {
      execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (cause) {
      throw new Error(`making the local MariaDB certificates in ${dir}: openssl ${args[0]}`, { cause });
    }
  };
  // Fixed flags are split on spaces; paths (the home may contain spaces) and subjects are passed whole.
  const flags = (text: string) => text.split(" ");
  const ca = flags("-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
  openssl([
    ...flags("req -x509 -newkey rsa:2048 -nodes -days 3650"),
    ...ca,
    "-subj",
    "/CN=spotferry local CA",
    "-keyout",
    caKey,
    "-out",
    tls.ca,
  ]);
  const csr = join(dir, "server.csr");
  openssl([...flags("req -newkey rsa:2048 -nodes"), "-subj", "/CN=spotferry local mariadb", "-keyout", tls.key, "-out", csr]);
  openssl([
    ...flags("x509 -req -days 3650 -CAcreateserial"),
    "-in",
    csr,
    "-CA",
    tls.ca,
    "-CAkey",
    caKey,
    "-extfile",
    ext,
    "-out",
    tls.cert,
  ]);
  return tls;
}

/** MariaDB from Debian, in a private datadir, run as a plain process (these machines have no systemd). */
export const mariadbService: LocalService = {
  name: "mariadb",
  requirements: [
    { binary: "mariadbd", packages: ["mariadb-server"] },
    { binary: "mariadb-install-db", packages: ["mariadb-server"] },
    // The local CA and the server certificate (ensureMariadbTls).
    { binary: "openssl", packages: ["openssl"] },
  ],

  async start(ctx, previous) {
    const dir = join(ctx.home, "mariadb");
    const datadir = join(dir, "data");
    privateDir(dir);
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
    // Existing stacks (datadir reused across `up`) get their certificates on the first start that lacks them.
    const tls = ensureMariadbTls(join(dir, "tls"), ctx.log);
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
        // TLS is offered to every client and required of none: most tests and the baselines connect in the clear;
        // an account created REQUIRE SSL is refused without it.
        `--ssl-ca=${tls.ca}`,
        `--ssl-cert=${tls.cert}`,
        `--ssl-key=${tls.key}`,
      ],
      { logFile: join(dir, "stdout.log") },
    );
    const state: ServiceState = { pids: [pid], port, extra: { port: String(port), password, socket, ca: tls.ca } };
    const ready = waitUntil(
      "mariadb",
      async () => {
        // The account is (re)made on every start, so a lost state file never locks us out.
        await ensureStackAccounts(socket, password);
        return true;
      },
      60_000,
      () => isAlive(pid),
    ).then(() => waitUntil("mariadb over TCP", () => this.healthy(state), 10_000));
    await readyOrStop([pid], ready);
    return state;
  },

  /** A server reused by `up` gets the accounts of this release (older stacks had 'spotferry'@'%' WITH GRANT OPTION). */
  async migrate(ctx, state) {
    privateDir(join(ctx.home, "mariadb"));
    if (state.extra.socket && state.extra.password) await ensureStackAccounts(state.extra.socket, state.extra.password);
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
      const [rows] = await conn.query("SELECT 1 AS ok, @@have_ssl AS have_ssl");
      const row = (rows as { ok: number; have_ssl: string }[])[0];
      // A server started before TLS was configured (or whose CA file is gone) is restarted by `up`.
      return row?.ok === 1 && row.have_ssl === "YES" && state.extra.ca !== undefined && existsSync(state.extra.ca);
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
      // The CA that signed the server's certificate (IP:127.0.0.1), for source.tls.caFile.
      SPOTFERRY_MYSQL_CA: state.extra.ca ?? "",
    };
  },
};
