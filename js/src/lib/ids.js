// Root and supervoxel ids exceed 2^53: the browser holds them as strings (or BigInt), never
// as JS numbers.
export function idToString(value) {
  return typeof value === "bigint" ? value.toString() : String(value);
}
