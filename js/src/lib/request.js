// Request/reply with the widget's Python side (see cave_widgets/widgets/_base.py).
// Every request carries an id; replies to requests nobody waits for any more (a newer
// request of the same kind replaced it, or it was cancelled) are dropped.

export function createRequester(model) {
  // Ids are unique per view: one widget shown in two outputs shares its model, and each
  // view must only take its own replies.
  const prefix = Math.random().toString(36).slice(2, 10);
  let counter = 0;
  const waiting = new Map(); // id -> {resolve, reject, kind}
  const latestOfKind = new Map(); // kind -> id of the newest request of that kind

  const onMessage = (msg, buffers) => {
    if (!msg || msg.type !== "reply") return;
    const entry = waiting.get(msg.id);
    if (!entry) return; // stale or cancelled
    waiting.delete(msg.id);
    if (msg.error) {
      const err = new Error(msg.error.message || "request failed");
      err.info = msg.error;
      entry.reject(err);
    } else {
      entry.resolve({ result: msg.ok, buffers: buffers || [] });
    }
  };
  model.on("msg:custom", onMessage);

  function request(kind, payload = {}, { replaceStale = true } = {}) {
    const id = `${prefix}-${++counter}`;
    if (replaceStale) {
      const previous = latestOfKind.get(kind);
      if (previous !== undefined && waiting.has(previous)) {
        waiting.get(previous).reject(Object.assign(new Error("superseded"), { stale: true }));
        waiting.delete(previous);
      }
      latestOfKind.set(kind, id);
    }
    const promise = new Promise((resolve, reject) => waiting.set(id, { resolve, reject, kind }));
    model.send({ ...payload, type: kind, id });
    return {
      id,
      promise,
      cancel() {
        if (!waiting.has(id)) return;
        waiting.get(id).reject(Object.assign(new Error("cancelled"), { stale: true }));
        waiting.delete(id);
        model.send({ type: "cancel", id, target: id });
      },
    };
  }

  return {
    request,
    dispose() {
      model.off("msg:custom", onMessage);
      waiting.clear();
    },
  };
}
