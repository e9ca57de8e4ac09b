/** Raised for any config that cannot be used; `problems` holds one line per problem, each naming its path. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`${source}: ${problems.length === 1 ? problems[0] : `${problems.length} problems\n  ${problems.join("\n  ")}`}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}
