import type { KeyColumn } from "../../config/records.ts";
import { UserError } from "../../lib/errors.ts";
import { column, type IndexInfo, keyColumnOf, type TableInfo } from "../../lib/mysql/schema.ts";

export interface ChosenKey {
  /** The index the export is read through ("PRIMARY" or a unique index). */
  index: string;
  columns: KeyColumn[];
}

const q = (s: string) => `\`${s.replaceAll("`", "")}\``;

/**
 * Picks the key an export is cut on. Without source.partitionKey: the primary key, else the narrowest unique index
 * whose columns are all NOT NULL. With it: a unique, NOT NULL, ordered index whose leading columns are exactly those
 * columns; the key is then that index's full column list, because only a unique key lets a resume cursor
 * ("everything up to this row") name one row.
 */
export function chooseKey(info: TableInfo, partitionKey?: string[]): ChosenKey {
  const where = `${info.database}.${info.table}`;
  const notNull = (ix: IndexInfo) => ix.columns.every((c) => !column(info, c, "index").nullable);
  const usable = info.indexes.filter((ix) => ix.unique && ix.ordered && notNull(ix));
  let chosen: IndexInfo | undefined;
  if (partitionKey && partitionKey.length > 0) {
    const wanted = partitionKey.map((name, i) => column(info, name, `source.partitionKey[${i}]`).name);
    const matches = usable
      .filter((ix) => wanted.every((w, i) => ix.columns[i] === w))
      .sort((a, b) => Number(b.name === "PRIMARY") - Number(a.name === "PRIMARY") || a.columns.length - b.columns.length);
    chosen = matches[0];
    if (!chosen) {
      throw new UserError(
        `source.partitionKey (${wanted.join(", ")}) is not the leading columns of a unique index with NOT NULL columns on ${where}; ` +
          `add one, e.g. ALTER TABLE ${q(info.database)}.${q(info.table)} ADD UNIQUE INDEX (${wanted.map(q).join(", ")}) ` +
          "(the columns must be NOT NULL), or leave partitionKey out to use the primary key",
      );
    }
  } else {
    chosen = usable.find((ix) => ix.name === "PRIMARY") ?? [...usable].sort((a, b) => a.columns.length - b.columns.length)[0];
    if (!chosen) {
      throw new UserError(
        `${where} has no primary key or unique index on NOT NULL columns to cut the export by; add one, e.g. ` +
          `ALTER TABLE ${q(info.database)}.${q(info.table)} ADD COLUMN \`spotferry_id\` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, ` +
          "or ADD UNIQUE INDEX over NOT NULL columns and name them in source.partitionKey",
      );
    }
  }
  const columns: KeyColumn[] = [];
  for (const name of chosen.columns) {
    const kc = keyColumnOf(column(info, name, "index"));
    if (typeof kc === "string") {
      throw new UserError(
        `${where}: index ${chosen.name} cannot be the export key because ${kc}; add a unique index on integer, decimal, ` +
          "string, binary or date/time columns and name its columns in source.partitionKey",
      );
    }
    columns.push(kc);
  }
  return { index: chosen.name, columns };
}
