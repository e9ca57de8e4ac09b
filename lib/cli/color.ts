/**
 * Whether the CLI may colour what it writes to a stream, by the usual conventions: `NO_COLOR` (any non-empty value,
 * no-color.org) turns colour off; `FORCE_COLOR` turns it on even in a pipe ("0" or "false" turn it off); otherwise
 * colour only on a terminal whose TERM is not "dumb". A pipe, a file or cron therefore never sees an escape sequence.
 */
export type Env = Record<string, string | undefined>;

export function colorEnabled(stream: { isTTY?: boolean }, env: Env = process.env): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !(force === "0" || force.toLowerCase() === "false");
  return stream.isTTY === true && env.TERM !== "dumb";
}

const SGR = { red: 31, yellow: 33, green: 32, bold: 1, dim: 2 } as const;
export type Style = keyof typeof SGR;

/** A painter for one stream: `paint("red", text)` is `text` itself when colour is off. */
export function painter(stream: { isTTY?: boolean } = process.stdout, env: Env = process.env): (style: Style, text: string) => string {
  const on = colorEnabled(stream, env);
  return (style, text) => (on ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text);
}
