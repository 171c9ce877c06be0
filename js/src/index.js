// Shared front-end code; each widget has its own entry point next to this file
// (login.js, datastack.js, table_browser.js), bundled into cave_widgets/static/.
export { createRequester } from "./lib/request.js";
export { idToString } from "./lib/ids.js";
export const FRONTEND_VERSION = "0.1.0";
