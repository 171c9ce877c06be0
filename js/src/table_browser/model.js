// The grid's logic without the DOM: decoding a page (Arrow IPC), sorting within it,
// selecting rows by their stable key, formatting values. Ids arrive as strings (they
// exceed 2^53) and are compared as BigInt, never as JS numbers.
import { tableFromIPC } from "@uwdata/flechette";

// A DataView/ArrayBuffer/Uint8Array from a widget message → {columns, rows}.
// columns: [{name, kind}] (kinds from the reply's meta win), rows: arrays of values.
export function decodePage(buffer, metaColumns = []) {
  const bytes = buffer instanceof Uint8Array ? buffer
    : ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    : new Uint8Array(buffer);
  const table = tableFromIPC(bytes);
  const kinds = new Map(metaColumns.map((c) => [c.name, c.kind]));
  const names = table.schema.fields.map((f) => f.name);
  const data = names.map((name) => Array.from(table.getChild(name).toArray(), fromArrow));
  const rows = [];
  for (let r = 0; r < table.numRows; r++) rows.push(data.map((col) => col[r]));
  return { columns: names.map((name) => ({ name, kind: kinds.get(name) || "string" })), rows };
}

function fromArrow(value) {
  if (value === undefined) return null;
  if (typeof value === "bigint") return value.toString(); // never lose digits
  if (value && typeof value === "object" && typeof value.length === "number" && !(typeof value === "string")) {
    return Array.from(value, (v) => (typeof v === "bigint" ? Number(v) : v));
  }
  return value;
}

function asBigInt(text) {
  try {
    return BigInt(text);
  } catch {
    return null;
  }
}

// A comparator for values of one kind; missing values sort last in both directions.
export function comparator(kind) {
  let base;
  if (kind === "integer") {
    base = (a, b) => {
      const x = typeof a === "number" ? BigInt(Math.trunc(a)) : asBigInt(a);
      const y = typeof b === "number" ? BigInt(Math.trunc(b)) : asBigInt(b);
      if (x === null || y === null) return String(a).localeCompare(String(b));
      return x < y ? -1 : x > y ? 1 : 0;
    };
  } else if (kind === "float") {
    base = (a, b) => a - b;
  } else if (kind === "boolean") {
    base = (a, b) => Number(a) - Number(b);
  } else if (kind === "position") {
    base = (a, b) => (a[0] - b[0]) || (a[1] - b[1]) || (a[2] - b[2]);
  } else {
    base = (a, b) => String(a).localeCompare(String(b));
  }
  return base;
}

// Row indexes of `rows` sorted by column `index` (stable; "asc" or "desc").
export function sortOrder(rows, index, kind, direction = "asc") {
  const order = rows.map((_, i) => i);
  if (index === null || index === undefined || index < 0) return order;
  const compare = comparator(kind);
  const sign = direction === "desc" ? -1 : 1;
  order.sort((i, j) => {
    const a = rows[i][index];
    const b = rows[j][index];
    const aMissing = a === null || a === undefined;
    const bMissing = b === null || b === undefined;
    if (aMissing || bMissing) return aMissing === bMissing ? i - j : aMissing ? 1 : -1;
    return sign * compare(a, b) || i - j;
  });
  return order;
}

// The next sort state when a header is clicked: asc → desc → unsorted.
export function nextSort(current, name) {
  if (!current || current.name !== name) return { name, direction: "asc" };
  if (current.direction === "asc") return { name, direction: "desc" };
  return null;
}

// Selection after a click on the row with `key`. `visible` is the keys in display order.
// plain click: only this row (or nothing, if it was the only one selected);
// ctrl/cmd-click: toggle this row; shift-click: add the range from the anchor.
export function clickSelection(selection, anchor, visible, key, { shift = false, toggle = false } = {}) {
  const next = new Set(selection);
  if (shift && anchor !== null && anchor !== undefined && visible.includes(anchor)) {
    const a = visible.indexOf(anchor);
    const b = visible.indexOf(key);
    const [lo, hi] = a < b ? [a, b] : [b, a];
    for (let i = lo; i <= hi; i++) next.add(visible[i]);
    return { selection: next, anchor };
  }
  if (toggle) {
    if (next.has(key)) next.delete(key);
    else next.add(key);
    return { selection: next, anchor: key };
  }
  if (next.size === 1 && next.has(key)) return { selection: new Set(), anchor: null };
  return { selection: new Set([key]), anchor: key };
}

export function formatValue(value, kind) {
  if (value === null || value === undefined) return "";
  if (kind === "position" && Array.isArray(value)) return `[${value.join(", ")}]`;
  if (kind === "float" && typeof value === "number") {
    return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, "");
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  return String(value);
}
