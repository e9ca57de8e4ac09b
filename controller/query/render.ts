/**
 * Query results as plain aligned columns (kubectl style: a header row, two spaces between columns, no rules), so
 * grep/awk/cut work on them; numbers right-aligned. NULL prints as NULL, nested values as JSON.
 */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/;

export function renderColumns(columns: string[], types: string[], rows: unknown[][]): string {
  const cells = rows.map((r) => r.map(cellText));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const right = types.map((t) => NUMERIC.test(t));
  const line = (r: string[]) =>
    r
      .map((s, i) => (right[i] ? s.padStart(widths[i]!) : i === r.length - 1 ? s : s.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return `${[line(columns), ...cells.map(line)].join("\n")}\n`;
}
