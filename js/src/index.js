// Front-end entry point of cave_widgets. esbuild bundles this file (and everything it
// imports) into cave_widgets/static/index.js, which the anywidget views load as their _esm.
// The widget views themselves are added with the widgets (issue 4); until then the bundle
// only carries what the views will share.

export const FRONTEND_VERSION = "0.1.0";

// Root and supervoxel ids exceed 2^53: the browser must hold them as strings or BigInt,
// never as JS numbers.
export function idToString(value) {
  return typeof value === "bigint" ? value.toString() : String(value);
}
