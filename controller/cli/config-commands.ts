import type { Command } from "commander";
import { type ConfigKind, loadConfigFile } from "../../config/load.ts";
import { addOutputOptions, dataFormat, emitData, type OutputFlags, outputFormat } from "../../lib/cli/output.ts";
import { runCommand } from "../../lib/cli/run.ts";

export function registerConfigCommands(program: Command): void {
  const config = program.command("config");
  const check = config
    .command("check")
    .description("validate an export spec, pool spec or settings file (YAML or JSON); exit 2 with one line per problem")
    .argument("<file...>", "config files; each declares its kind (Export, Pool, ControllerSettings, AgentSettings)")
    .option("--kind <kind>", "require this kind instead of reading it from the file");
  // As data: the validated documents with defaults filled in.
  addOutputOptions(check).action((files: string[], opts: OutputFlags & { kind?: ConfigKind }) =>
    runCommand(async () => {
      const data = dataFormat(outputFormat(opts)) !== null;
      const docs = [];
      for (const file of files) {
        const doc = await loadConfigFile(file, opts.kind);
        docs.push(doc);
        if (!data) process.stdout.write(`${file}: valid ${(doc as { kind?: string }).kind ?? opts.kind}\n`);
      }
      await emitData(opts, docs.length === 1 ? docs[0] : docs);
    }),
  );
}
