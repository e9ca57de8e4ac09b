import { ExitCode, UserError } from "../errors.ts";
import { placeholder } from "./key-sql.ts";

/**
 * Filter values parsed as their column's type, exactly. MySQL and MariaDB convert a bound value to the column's type
 * leniently: CAST('-1' AS UNSIGNED) is 2^64-1, CAST('abc' AS UNSIGNED) is 0, CAST('3 OR 1=1' AS UNSIGNED) is 3, an
 * impossible date becomes NULL or a zero date, extra fractional digits are rounded away and a character the column's
 * character set lacks becomes '?'. Each of those silently changes which rows a filter selects, and `export verify`
 * would agree, since it runs the same SQL. So every value is parsed here first, refused with one line naming where it
 * was written, the value and the column's type, and bound as the column's canonical text (what CAST(col AS CHAR)
 * prints), which the typed CAST of key-sql.ts maps to exactly the value that was written.
 */

/** What a filter value may be (config/export-spec.ts's filterValue). */
export type FilterValue = string | number | boolean | null;

/** The catalogue's facts a value is parsed against (schema.ts's ColumnInfo has them). */
export interface ValueColumn {
  name: string;
  dataType: string;
  columnType: string;
  charset: string | null;
  collation: string | null;
  /** ENUM and SET members as declared (columnType is lower-cased). */
  members?: string[];
}

export interface ColumnBinding {
  /** The SQL of one bound value of the column. */
  placeholder: string;
  /** The value as the column's canonical text; a UserError naming `where` when the column's type cannot hold it. */
  parse(value: FilterValue, where: string): string;
}

const INT_BITS: Record<string, number> = { tinyint: 8, smallint: 16, mediumint: 24, int: 32, integer: 32, bigint: 64 };
const TEXT_BYTES: Record<string, number> = { tinytext: 255, text: 65535, mediumtext: 16777215, longtext: 4294967295 };
const BLOB_BYTES: Record<string, number> = { tinyblob: 255, blob: 65535, mediumblob: 16777215, longblob: 4294967295 };

const argsOf = (c: ValueColumn): number[] =>
  (/\(([\d, ]+)\)/.exec(c.columnType)?.[1] ?? "")
    .split(",")
    .filter((s) => s.trim() !== "")
    .map((s) => Number(s.trim()));
const unsigned = (c: ValueColumn) => / unsigned\b/.test(c.columnType);
const isBoolean = (c: ValueColumn) => c.dataType === "tinyint" && c.columnType.startsWith("tinyint(1)");

/** The column's type as an error names it: BIGINT UNSIGNED, DECIMAL(10,2), DATETIME(3), ENUM('a','b'). */
export function typeName(c: ValueColumn): string {
  if (c.dataType in INT_BITS) return `${c.dataType.toUpperCase()}${isBoolean(c) ? "(1)" : ""}${unsigned(c) ? " UNSIGNED" : ""}`;
  if ((c.dataType === "enum" || c.dataType === "set") && c.members) {
    const shown = c.members.slice(0, 6).map((m) => `'${m.replaceAll("'", "''")}'`);
    return `${c.dataType.toUpperCase()}(${shown.join(",")}${c.members.length > 6 ? ",..." : ""})`;
  }
  return c.columnType.toUpperCase();
}

const show = (v: FilterValue): string => {
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** Builds the one-line refusals of a column: `where: <value> <problem> for <column> <TYPE><detail>`. */
function refuser(c: ValueColumn, where: string, v: FilterValue) {
  return (problem: string, detail = ""): UserError =>
    new UserError(`${where}: ${show(v)} ${problem} for ${c.name} ${typeName(c)}${detail}`, { exitCode: ExitCode.usage });
}
type Refuse = ReturnType<typeof refuser>;

/** How one value of `c` is bound, or why the column cannot be compared with a value at all. */
export function columnBinding(c: ValueColumn): ColumnBinding | string {
  const kind = c.dataType;
  const bind = (ph: string, parse: (v: Exclude<FilterValue, null>, refuse: Refuse) => string): ColumnBinding => ({
    placeholder: ph,
    parse: (v, where) => {
      const refuse = refuser(c, where, v);
      if (v === null) throw refuse("matches no row in a comparison", ': use op "is null" or "is not null"');
      return parse(v, refuse);
    },
  });
  const key = (type: "int" | "uint" | "decimal" | "date" | "datetime" | "time" | "binary" | "string") =>
    placeholder({ name: c.name, sqlType: c.columnType, type, ...(c.charset ? { charset: c.charset, collation: c.collation ?? "" } : {}) });
  if (kind in INT_BITS) return bind(key(unsigned(c) ? "uint" : "int"), (v, refuse) => integerText(c, v, refuse));
  if (kind === "year") return bind(key("int"), (v, refuse) => yearText(v, refuse));
  if (kind === "bit") return bind(key("uint"), (v, refuse) => bitText(c, v, refuse));
  if (kind === "decimal" || kind === "numeric") return bind(key("decimal"), (v, refuse) => decimalText(c, v, refuse));
  if (kind === "float" || kind === "double" || kind === "real") return bind("?", (v, refuse) => floatText(c, v, refuse));
  if (kind === "date") return bind(key("date"), (v, refuse) => dateTimeText(v, refuse, null));
  if (kind === "datetime" || kind === "timestamp") {
    return bind(key("datetime"), (v, refuse) => dateTimeText(v, refuse, argsOf(c)[0] ?? 0));
  }
  if (kind === "time") return bind(key("time"), (v, refuse) => timeText(v, refuse, argsOf(c)[0] ?? 0));
  if (kind === "enum" || kind === "set") return bind(key("string"), (v, refuse) => memberText(c, v, refuse));
  if (kind === "char" || kind === "varchar" || kind in TEXT_BYTES) return bind(key("string"), (v, refuse) => stringText(c, v, refuse));
  if (kind === "binary" || kind === "varbinary" || kind in BLOB_BYTES) return bind("UNHEX(?)", (v, refuse) => hexText(c, v, refuse));
  if (kind === "uuid") return bind("?", (v, refuse) => uuidText(v, refuse));
  if (kind === "json") {
    return `${c.name} is JSON, which compares by JSON's rules rather than as text: filter on a generated column that extracts the value`;
  }
  return `${c.name} is ${typeName(c)}, which a filter cannot compare exactly (is null and is not null work)`;
}

/** The canonical text of `value` for column `c`; a UserError naming `where` when it does not parse. */
export function filterValueText(c: ValueColumn, value: FilterValue, where: string): string {
  const b = columnBinding(c);
  if (typeof b === "string") throw new UserError(`${where}: ${b}`, { exitCode: ExitCode.usage });
  return b.parse(value, where);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** No lone surrogate: the text has a UTF-8 form (String.prototype.isWellFormed, which the project's TS lib lacks). */
export const wellFormed = (v: string): boolean => !LONE_SURROGATE.test(v);

const INTEGER = /^[+-]?\d+$/;

/** A whole number from a number or a string of digits, exactly; or why not. */
function wholeNumber(v: string | number | boolean, refuse: Refuse, hint: string): bigint {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw refuse("is not an integer", hint);
    if (!Number.isSafeInteger(v)) throw refuse("is past 2^53 and may already be rounded", ": write it as a string of digits");
    return BigInt(v);
  }
  if (typeof v === "string" && INTEGER.test(v)) return BigInt(v);
  throw refuse(`is not an integer`, hint);
}

function integerText(c: ValueColumn, v: Exclude<FilterValue, null>, refuse: Refuse): string {
  const bits = INT_BITS[c.dataType] as number;
  const [lo, hi] = unsigned(c) ? [0n, (1n << BigInt(bits)) - 1n] : [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n];
  const range = ` (${lo}..${hi})`;
  if (typeof v === "boolean") {
    if (isBoolean(c)) return v ? "1" : "0";
    throw refuse("is a boolean", `, which holds integers${range}`);
  }
  const n = wholeNumber(v, refuse, range);
  if (n < lo || n > hi) throw refuse("is out of range", range);
  return n.toString();
}

function yearText(v: Exclude<FilterValue, null>, refuse: Refuse): string {
  const range = " (1901..2155, or 0)";
  if (typeof v === "boolean") throw refuse("is a boolean", range);
  const n = wholeNumber(v, refuse, range);
  if (n !== 0n && (n < 1901n || n > 2155n)) throw refuse("is out of range", range);
  return n.toString();
}

function bitText(c: ValueColumn, v: Exclude<FilterValue, null>, refuse: Refuse): string {
  const width = argsOf(c)[0] ?? 1;
  const range = ` (0..${(1n << BigInt(width)) - 1n})`;
  if (typeof v === "boolean") {
    if (width === 1) return v ? "1" : "0";
    throw refuse("is a boolean", range);
  }
  const n = wholeNumber(v, refuse, range);
  if (n < 0n || n >= 1n << BigInt(width)) throw refuse("is out of range", range);
  return n.toString();
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?$/;

function decimalText(c: ValueColumn, v: Exclude<FilterValue, null>, refuse: Refuse): string {
  const [p = 10, s = 0] = argsOf(c);
  const max = `${"9".repeat(p - s) || "0"}${s > 0 ? `.${"9".repeat(s)}` : ""}`;
  const range = unsigned(c) ? ` (0..${max})` : ` (-${max}..${max})`;
  if (typeof v === "boolean") throw refuse("is a boolean", range);
  if (typeof v === "number" && !Number.isFinite(v)) throw refuse("is not a number", range);
  const written = typeof v === "number" ? String(v) : v;
  const m = DECIMAL.exec(written);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) {
    const hint = typeof v === "number" ? ": write it as a string of digits" : range;
    throw refuse("is not a decimal number", hint);
  }
  const whole = (m[2] as string).replace(/^0+/, "");
  const frac = (m[3] ?? "").replace(/0+$/, "");
  if (frac.length > s) throw refuse(`has ${frac.length} digits after the point, more than the ${s} kept`, "");
  const zero = whole === "" && frac === "";
  if (whole.length > p - s || (m[1] === "-" && !zero && unsigned(c))) throw refuse("is out of range", range);
  return `${m[1] === "-" && !zero ? "-" : ""}${whole || "0"}${s > 0 ? `.${frac.padEnd(s, "0")}` : ""}`;
}

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const FLOAT_MAX = 3.4028234663852886e38;

function floatText(c: ValueColumn, v: Exclude<FilterValue, null>, refuse: Refuse): string {
  if (typeof v === "boolean") throw refuse("is a boolean", ", which holds numbers");
  if (typeof v === "string" && !FLOAT.test(v)) throw refuse("is not a number");
  const n = Number(v);
  const single = c.dataType === "float" && (argsOf(c)[0] ?? 0) <= 24;
  if (!Number.isFinite(n) || (single && Math.abs(n) > FLOAT_MAX)) throw refuse("is out of range");
  if (n < 0 && unsigned(c)) throw refuse("is out of range", " (not negative)");
  // The shortest text that reads back as the same double: what MySQL converts the bound string to.
  return String(n === 0 ? 0 : n);
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/;

const daysIn = (y: number, m: number) =>
  m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;

/** fsp null: a DATE. Otherwise DATETIME/TIMESTAMP(fsp); a date alone is its midnight. */
function dateTimeText(v: Exclude<FilterValue, null>, refuse: Refuse, fsp: number | null): string {
  const form = fsp === null ? ' ("YYYY-MM-DD")' : ` ("YYYY-MM-DD hh:mm:ss${fsp > 0 ? `.${"f".repeat(fsp)}` : ""}")`;
  if (typeof v !== "string") throw refuse(`is a ${typeof v}, not a date`, `: write it as a string${form}`);
  const m = DATE_TIME.exec(v);
  if (!m || (fsp === null && m[4] !== undefined)) throw refuse(fsp === null ? "is not a date" : "is not a date and time", form);
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  if (mo === 0 && d === 0 && y === 0) throw refuse("is the zero date, which a strict server refuses", form);
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) throw refuse("is not a calendar date", form);
  if (h > 23 || mi > 59 || sec > 59) throw refuse("is not a time of day", form);
  const date = `${m[1]}-${m[2]}-${m[3]}`;
  if (fsp === null) return date;
  return `${date} ${m[4] ?? "00"}:${m[5] ?? "00"}:${m[6] ?? "00"}${fraction(m[7], fsp, refuse)}`;
}

/** ".fff" padded to the column's fsp; refused when it has more non-zero digits than the column keeps (CAST rounds). */
function fraction(digits: string | undefined, fsp: number, refuse: Refuse): string {
  const f = (digits ?? "").replace(/0+$/, "");
  if (f.length > fsp) throw refuse(`has ${f.length} fractional digits of seconds, more than the ${fsp} kept`);
  return fsp > 0 ? `.${f.padEnd(fsp, "0")}` : "";
}

const TIME = /^(-?)(\d{1,3}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/;

function timeText(v: Exclude<FilterValue, null>, refuse: Refuse, fsp: number): string {
  const form = ` ("hh:mm:ss${fsp > 0 ? `.${"f".repeat(fsp)}` : ""}", -838:59:59..838:59:59)`;
  if (typeof v !== "string") throw refuse(`is a ${typeof v}, not a time`, `: write it as a string${form}`);
  const m = TIME.exec(v);
  if (!m) throw refuse("is not a time", form);
  const [h, mi, sec] = [Number(m[2]), Number(m[3]), Number(m[4] ?? 0)];
  if (mi > 59 || sec > 59) throw refuse("is not a time", form);
  const frac = fraction(m[5], fsp, refuse);
  if (h > 838 || (h === 838 && /[1-9]/.test(frac))) throw refuse("is out of range", form);
  const zero = h === 0 && mi === 0 && sec === 0 && !/[1-9]/.test(frac);
  return `${m[1] === "-" && !zero ? "-" : ""}${String(h).padStart(2, "0")}:${m[3]}:${m[4] ?? "00"}${frac}`;
}

/** An ENUM member, or a SET's members in declared order (MySQL's own text of a SET value); spelled as declared. */
function memberText(c: ValueColumn, v: Exclude<FilterValue, null>, refuse: Refuse): string {
  const members = c.members ?? [];
  const list = `: one of ${members.map((x) => JSON.stringify(x)).join(", ")}`.slice(0, 200);
  if (typeof v !== "string") throw refuse(`is a ${typeof v}`, `, compared by member name${list}`);
  const ci = /_ci$/.test(c.collation ?? "");
  const find = (w: string) => {
    const exact = members.indexOf(w);
    if (exact >= 0 || !ci) return exact;
    const loose = members.flatMap((x, i) => (x.toLowerCase() === w.toLowerCase() ? [i] : []));
    return loose.length === 1 ? (loose[0] as number) : -1;
  };
  if (c.dataType === "enum") {
    const i = find(v);
    if (i < 0) throw refuse("is not a member", list);
    return members[i] as string;
  }
  if (v === "") return "";
  const picked = new Set<number>();
  for (const part of v.split(",")) {
    const i = find(part);
    if (i < 0) throw refuse(`has ${JSON.stringify(part)}, which is not a member`, list);
    picked.add(i);
  }
  return [...picked]
    .sort((a, b) => a - b)
    .map((i) => members[i])
    .join(",");
}

function stringText(c: ValueColumn, v: Exclude<FilterValue, null>, refuse: Refuse): string {
  // A number would be compared as DOUBLE ("5abc" = 5), and YAML reads 00123 as 123: text is written quoted.
  if (typeof v !== "string") throw refuse(`is a ${typeof v}`, `, which holds text: write the value in quotes`);
  if (!wellFormed(v)) throw refuse("is not well-formed Unicode (a lone surrogate)");
  const missing = unrepresentable(v, c.charset);
  if (missing !== null) throw refuse(`has ${JSON.stringify(missing)}, which character set ${c.charset} cannot hold`);
  const limit = argsOf(c)[0];
  if ((c.dataType === "char" || c.dataType === "varchar") && limit !== undefined) {
    const chars = [...v].length;
    if (chars > limit) throw refuse(`is ${chars} characters long, more than the ${limit}`);
  }
  const bytes = TEXT_BYTES[c.dataType];
  if (bytes !== undefined && byteLength(v, c.charset) > bytes) throw refuse(`is longer than the ${bytes} bytes`);
  return v;
}

/** cp1252's characters at 0x80..0x9F: MySQL's latin1 is Windows-1252. */
const CP1252_EXTRA = new Set([..."€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"].map((ch) => ch.codePointAt(0) as number));

/** The first character the character set cannot hold (the server would turn it into '?'), or null. */
function unrepresentable(v: string, charset: string | null): string | null {
  const cs = charset ?? "utf8mb4";
  const fits =
    cs === "ascii"
      ? (cp: number) => cp < 0x80
      : cs === "latin1"
        ? (cp: number) => cp < 0x80 || (cp >= 0xa0 && cp <= 0xff) || CP1252_EXTRA.has(cp)
        : cs === "utf8mb3" || cs === "utf8" || cs === "ucs2"
          ? (cp: number) => cp <= 0xffff
          : null;
  if (!fits) return null; // utf8mb4, utf16, utf32 hold everything; others are not checked here
  for (const ch of v) if (!fits(ch.codePointAt(0) as number)) return ch;
  return null;
}

function byteLength(v: string, charset: string | null): number {
  const cs = charset ?? "utf8mb4";
  if (cs === "latin1" || cs === "ascii") return [...v].length;
  if (cs === "utf32") return [...v].length * 4;
  if (cs === "ucs2" || cs === "utf16" || cs === "utf16le") return v.length * 2;
  return Buffer.byteLength(v, "utf8");
}

const HEX = /^0x((?:[0-9a-fA-F]{2})*)$/;

function hexText(c: ValueColumn, v: Exclude<FilterValue, null>, refuse: Refuse): string {
  // Binary values are written as hex so a byte string is never guessed from text in some character set.
  const m = typeof v === "string" ? HEX.exec(v) : null;
  if (!m) throw refuse("is not 0x and hex digits", ": write binary values as hex, e.g. 0x6869 for the bytes of 'hi'");
  const hex = (m[1] as string).toUpperCase();
  const limit = c.dataType in BLOB_BYTES ? BLOB_BYTES[c.dataType] : argsOf(c)[0];
  if (limit !== undefined && hex.length / 2 > limit) throw refuse(`is ${hex.length / 2} bytes long, more than the ${limit}`);
  return hex;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function uuidText(v: Exclude<FilterValue, null>, refuse: Refuse): string {
  if (typeof v !== "string" || !UUID.test(v)) throw refuse("is not a UUID", ' ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")');
  return v.toLowerCase();
}

/** ENUM/SET members from information_schema's COLUMN_TYPE: enum('a','it''s','back\\slash'). */
export function membersOf(columnType: string): string[] {
  const body = /^(?:enum|set)\((.*)\)$/is.exec(columnType)?.[1] ?? "";
  const out: string[] = [];
  const escapes: Record<string, string> = { "0": "\0", n: "\n", r: "\r", t: "\t", Z: "\x1a", b: "\b" };
  let i = 0;
  while (i < body.length) {
    if (body[i] !== "'") throw new Error(`unexpected ${JSON.stringify(body.slice(i, i + 10))} in ${columnType}`);
    let member = "";
    for (i++; i < body.length; i++) {
      const ch = body[i] as string;
      if (ch === "'" && body[i + 1] === "'") {
        member += "'";
        i++;
      } else if (ch === "\\" && i + 1 < body.length) {
        i++;
        member += escapes[body[i] as string] ?? body[i];
      } else if (ch === "'") break;
      else member += ch;
    }
    out.push(member);
    i++;
    if (body[i] === ",") i++;
  }
  return out;
}
