import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { ExitCode, UserError } from "../../lib/errors.ts";

/** A binary the stack needs and the Debian package that provides it. */
export interface Requirement {
  binary: string;
  packages: string[];
}

const onPath = (binary: string) =>
  binary.startsWith("/") ? existsSync(binary) : spawnSync("sh", ["-c", `command -v ${binary}`], { stdio: "ignore" }).status === 0;

/**
 * Makes sure each binary exists. Missing ones are installed with apt-get when running as root; otherwise the error
 * names the exact command to run. apt on these machines does not start services, which is what we want.
 */
export function ensurePackages(requirements: Requirement[], log: (line: string) => void): void {
  const missing = requirements.filter((r) => !onPath(r.binary));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.flatMap((r) => r.packages))];
  const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(" ")}`;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !onPath("apt-get")) {
    throw new UserError(`missing ${missing.map((r) => r.binary).join(", ")}; install with: sudo ${command}`, {
      exitCode: ExitCode.unavailable,
    });
  }
  log(`installing ${packages.join(" ")} with apt-get (needed for ${missing.map((r) => r.binary).join(", ")})`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env });
    execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], {
      stdio: ["ignore", "ignore", "inherit"],
      env,
    });
  } catch (cause) {
    throw new UserError(`installing ${packages.join(" ")} failed; run it by hand: ${command}`, { exitCode: ExitCode.unavailable, cause });
  }
  const still = missing.filter((r) => !onPath(r.binary));
  if (still.length > 0) {
    throw new UserError(`${still.map((r) => r.binary).join(", ")} still missing after installing ${packages.join(" ")}`, {
      exitCode: ExitCode.unavailable,
    });
  }
}
