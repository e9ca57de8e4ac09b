/**
 * What the in-memory stores share to behave like the DynamoDB ones: items are copied on the way in and out (the
 * document client marshals, so a caller never holds a reference into the table) with undefined fields dropped as
 * `removeUndefinedValues` does, and keys compare as DynamoDB sorts string keys, by UTF-8 bytes (JS `<` compares
 * UTF-16 code units, which orders characters past the BMP differently).
 */

export function copy<T>(value: T): T {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(copy) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, copy(v)]),
    ) as T;
  }
  return value;
}

export const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** DynamoDB refuses a Query Limit below 1; the in-memory lists fail the same way, wrapped in what was being done. */
export function checkLimit(limit: number, what: string): void {
  if (!(limit >= 1)) throw new Error(what, { cause: new Error("Limit must be greater than or equal to 1") });
}
