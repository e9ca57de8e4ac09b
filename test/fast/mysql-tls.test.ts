import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError } from "../../config/config-error.ts";
import { exportSpec, type SourceTls } from "../../config/export-spec.ts";
import { validateConfig } from "../../config/load.ts";
import { sslOptions, tlsConnectOptions } from "../../lib/mysql/tls.ts";
import { ensureMariadbTls } from "../../sim/stack/mariadb.ts";

// source.tls: the schema's one-line errors for a bad CA file, and the mysql2 options each mode turns into. How the
// modes behave against a real server (host checks, foreign CAs, REQUIRE SSL) is test/stack/mysql-tls.test.ts.

const dir = mkdtempSync(join(tmpdir(), "spotferry-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));
// A CA and a server certificate as the local stack makes them (openssl CLI), in a directory of this test's own.
const files = ensureMariadbTls(join(dir, "pki"), () => {});
const caPem = readFileSync(files.ca, "utf8");
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const spec = (tls: unknown) => ({
  kind: "Export",
  name: "calls",
  source: { user: "reader", database: "telephony", table: "call_log", tls },
  destination: { bucket: "exports-bucket" },
});

/** The problems reported for a spec with this `source.tls`. */
function problems(tls: unknown): string[] {
  try {
    validateConfig(spec(tls), "spec.yaml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail("expected the spec to be rejected");
}

describe("source.tls in the export spec", () => {
  test("no tls is today's behaviour; each mode is accepted, with or without a CA bundle", () => {
    assert.equal(validateConfig(spec(undefined), "spec.yaml", "Export").source.tls, undefined);
    for (const mode of ["required", "verify-ca", "verify-full"]) {
      assert.deepEqual(validateConfig(spec({ mode }), "spec.yaml", "Export").source.tls, { mode });
    }
    // The loaded spec keeps the path (the export id does not change with the bundle's bytes); the planner adds `ca`.
    const tls = validateConfig(spec({ mode: "verify-full", caFile: files.ca }), "spec.yaml", "Export").source.tls;
    assert.deepEqual(tls, { mode: "verify-full", caFile: files.ca });
  });

  test("a bad CA file is one line naming source.tls.caFile and the problem", () => {
    const missing = join(dir, "missing.pem");
    assert.deepEqual(problems({ mode: "verify-ca", caFile: missing }), [`source.tls.caFile: ${missing}: file not found`]);
    const folder = join(dir, "a-directory");
    mkdirSync(folder);
    assert.deepEqual(problems({ mode: "verify-ca", caFile: folder }), [`source.tls.caFile: cannot read ${folder} (EISDIR)`]);
    const der = write("ca.der", "0\x82\x03\x10binary");
    assert.deepEqual(problems({ mode: "verify-ca", caFile: der }), [`source.tls.caFile: ${der} is not PEM (no -----BEGIN ...----- block)`]);
    const keyOnly = write("key.pem", readFileSync(files.key, "utf8"));
    assert.deepEqual(problems({ mode: "verify-full", caFile: keyOnly }), [
      `source.tls.caFile: ${keyOnly} holds no certificate (only PRIVATE KEY)`,
    ]);
    const broken = write("broken.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    const [line, ...rest] = problems({ mode: "verify-full", caFile: broken });
    assert.deepEqual(rest, []);
    assert.match(line as string, new RegExp(`^source\\.tls\\.caFile: certificate 1 of ${broken} cannot be parsed \\(.+\\)$`));
  });

  test("the rest of the block is strict", () => {
    assert.deepEqual(problems({ mode: "disabled" }), ['source.tls.mode: expected one of required|verify-ca|verify-full, got "disabled"']);
    assert.deepEqual(problems({ caFile: files.ca }), ["source.tls.mode: expected one of required|verify-ca|verify-full, got nothing"]);
    assert.deepEqual(problems({ mode: "verify-ca", verifyHost: false }), ["source.tls.verifyHost: unknown field (check its spelling)"]);
    assert.deepEqual(problems({ mode: "required", caFile: files.ca }), [
      "source.tls.caFile: mode required does not check the server's certificate; use verify-ca or verify-full to trust a CA",
    ]);
    assert.deepEqual(problems({ mode: "verify-ca", ca: "hello" }), ["source.tls.ca: the text is not PEM (no -----BEGIN ...----- block)"]);
  });

  test("a record's inline CA is used as it is: a node never reads the controller's caFile", () => {
    const recorded = { mode: "verify-full", caFile: join(dir, "only-on-the-controller.pem"), ca: caPem };
    const parsed = exportSpec.parse(spec(recorded));
    assert.equal(parsed.source.tls?.ca, caPem);
    assert.equal(sslOptions(parsed.source.tls)?.ca, caPem);
  });
});

describe("sslOptions: mysql2's ssl option per mode", () => {
  const ca = `${caPem.trim()}\n`;
  test("no tls: no ssl at all", () => {
    assert.equal(sslOptions(undefined), undefined);
  });

  test("required encrypts without checking the certificate or the host", () => {
    assert.deepEqual(sslOptions({ mode: "required" }), { rejectUnauthorized: false, verifyIdentity: false });
  });

  test("verify-ca checks the chain only, verify-full the host too; the CA comes from caFile", () => {
    assert.deepEqual(sslOptions({ mode: "verify-ca", caFile: files.ca }), { ca, rejectUnauthorized: true, verifyIdentity: false });
    assert.deepEqual(sslOptions({ mode: "verify-full", caFile: files.ca }), { ca, rejectUnauthorized: true, verifyIdentity: true });
  });

  test("without a CA the verify modes use Node's default CAs (no ca key at all)", () => {
    const opts = sslOptions({ mode: "verify-full" });
    assert.deepEqual(opts, { rejectUnauthorized: true, verifyIdentity: true });
    assert.ok(!Object.hasOwn(opts as object, "ca"));
  });

  test("an explicit PEM wins over the spec's CA", () => {
    assert.equal(sslOptions({ mode: "verify-ca", caFile: join(dir, "missing.pem") }, "PEM")?.ca, "PEM");
  });

  test("a CA file gone after the spec was loaded is the same one line, as a ConfigError", () => {
    const p = write("gone.pem", caPem);
    const tls = validateConfig(spec({ mode: "verify-ca", caFile: p }), "spec.yaml", "Export").source.tls as SourceTls;
    rmSync(p);
    assert.throws(
      () => sslOptions(tls),
      (err: unknown) => err instanceof ConfigError && err.problems.join() === `source.tls.caFile: ${p}: file not found`,
    );
  });
});

describe("tlsConnectOptions", () => {
  test("verify-full to an IP brings its own socket so Node checks the IP SANs; other cases only ssl", () => {
    assert.deepEqual(tlsConnectOptions(undefined, { host: "127.0.0.1", port: 3306 }), {});
    const ip = tlsConnectOptions({ mode: "verify-full", ca: caPem }, { host: "127.0.0.1", port: 3306 });
    assert.equal(typeof ip.stream, "function");
    assert.equal(ip.ssl?.verifyIdentity, true);
    assert.equal(tlsConnectOptions({ mode: "verify-full", ca: caPem }, { host: "db.example.com", port: 3306 }).stream, undefined);
    assert.equal(tlsConnectOptions({ mode: "verify-ca", ca: caPem }, { host: "127.0.0.1", port: 3306 }).stream, undefined);
  });
});
