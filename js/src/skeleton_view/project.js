// DOM-free geometry of the skeleton plot: typed arrays from the model's binary traits, and
// the projection of nm coordinates onto the canvas (a fixed plane, or a turned 3D view).

export function typed(value, Type) {
  // Binary traits arrive as DataViews; copy, since their offset need not be aligned.
  if (!value || !value.byteLength) return new Type(0);
  const bytes = value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
  return new Type(bytes);
}

const PLANES = { xy: [0, 1], xz: [0, 2], yz: [1, 2] };

// A projector maps a point (x, y, z in nm) to [u, v] in plot units; for "3d" it turns the
// points by yaw (about the vertical) then pitch, around their centre.
export function projector(view, centre, yaw = 0.6, pitch = -0.4) {
  if (PLANES[view]) {
    const [a, b] = PLANES[view];
    return (x, y, z) => { const p = [x, y, z]; return [p[a], p[b]]; };
  }
  const [cy, sy, cp, sp] = [Math.cos(yaw), Math.sin(yaw), Math.cos(pitch), Math.sin(pitch)];
  return (x, y, z) => {
    const [dx, dy, dz] = [x - centre[0], y - centre[1], z - centre[2]];
    const rx = cy * dx + sy * dz;
    const rz = -sy * dx + cy * dz;
    return [rx, cp * dy - sp * rz];
  };
}

export function centreOf(points) {
  const n = points.length / 3;
  const sum = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) sum[k] += points[3 * i + k];
  return n ? sum.map((s) => s / n) : [0, 0, 0];
}

// Projected coordinates of every point, and the box holding them.
export function projectAll(points, project) {
  const out = new Float64Array((points.length / 3) * 2);
  const box = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < points.length / 3; i++) {
    const [u, v] = project(points[3 * i], points[3 * i + 1], points[3 * i + 2]);
    out[2 * i] = u; out[2 * i + 1] = v;
    box[0] = Math.min(box[0], u); box[1] = Math.min(box[1], v);
    box[2] = Math.max(box[2], u); box[3] = Math.max(box[3], v);
  }
  return { uv: out, box };
}

// Plot units → canvas pixels, same scale on both axes, the box centred with a margin.
export function fitTo(box, width, height, margin = 12) {
  const spanU = Math.max(box[2] - box[0], 1);
  const spanV = Math.max(box[3] - box[1], 1);
  const scale = Math.min((width - 2 * margin) / spanU, (height - 2 * margin) / spanV);
  const offU = (width - spanU * scale) / 2 - box[0] * scale;
  const offV = (height - spanV * scale) / 2 - box[1] * scale;
  return { scale, toPx: (u, v) => [offU + u * scale, offV + v * scale] };
}
