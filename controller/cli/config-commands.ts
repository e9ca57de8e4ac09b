import type { Command } from "commander";
import { type ConfigKind, loadConfigFile } from "../../config/load.ts";
import { printJson, runCommand } from "../../lib/cli/run.ts";

export function registerConfigCommands(program: Command): void {
  const config = program.command("config");
  config
    .command("check")
    .description("validate an export spec, pool spec or settings file (YAML or JSON); exit 2 with one line per problem")
    .argument("<file...>", "config files; each declares its kind (Export, Pool, ControllerSettings, AgentSettings)")
    .option("--kind <kind>", "require this kind instead of reading it from the file")
    .option("--json", "print the validated documents with defaults filled in")
    .action((files: string[], opts: { kind?: ConfigKind; json?: boolean }) =>
      runCommand(async () => {
        const docs = [];
        for (const file of files) {
          const doc = await loadConfigFile(file, opts.kind);
          docs.push(doc);
          if (!opts.json) process.stdout.write(`${file}: valid ${(doc as { kind?: string }).kind ?? opts.kind}\n`);
        }
        if (opts.json) printJson(docs.length === 1 ? docs[0] : docs);
      }),
    );
}
