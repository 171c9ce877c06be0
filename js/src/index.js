// Shared front-end code. Each widget has its own entry point, bundled by esbuild (the
// entries are listed in js/package.json) into cave_widgets/static/<widget>.js and .css,
// the names the Python widgets load:
//   datastack.js            DatastackSelector (one module)
//   login/index.js          LoginWidget, one module per sign-in flow next to it
//   table_browser/index.js  TableBrowser, with its grid, filters and page model
// lib/ holds only what several widgets share: dom.js, request.js, ids.js.
export { createRequester } from "./lib/request.js";
export { idToString } from "./lib/ids.js";
export const FRONTEND_VERSION = "0.1.0";
