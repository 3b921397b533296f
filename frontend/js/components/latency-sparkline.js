// A tiny inline-SVG trend of recent check latencies; failed checks are red marks on the baseline.
import { s } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { formatMs, formatPercent } from "../lib/format.js";

const W = 120;
const H = 28;
const PAD = 3;

/** An <svg> for `history` ({points, uptime, latency}); a flat placeholder when there is none. */
export function latencySparkline(history) {
  const points = (history && history.points) || [];
  const svg = s("svg", { class: "sparkline", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  if (points.length === 0) {
    svg.setAttribute("aria-label", t("providers.spark.empty"));
    svg.append(s("line", { class: "spark-empty", x1: PAD, x2: W - PAD, y1: H - PAD, y2: H - PAD }));
    return svg;
  }
  svg.append(s("line", { class: "spark-base", x1: PAD, x2: W - PAD, y1: H - PAD, y2: H - PAD }));
  const times = points.map((p) => (p.status !== "unhealthy" && p.responseTime != null ? p.responseTime : null));
  const max = Math.max(50, ...times.filter((t) => t !== null));
  const step = points.length > 1 ? (W - 2 * PAD) / (points.length - 1) : 0;
  const x = (i) => (points.length > 1 ? PAD + i * step : W - PAD);
  const y = (t) => H - PAD - (t / max) * (H - 2 * PAD);

  let segment = [];
  const flush = () => {
    if (segment.length > 1) {
      const line = segment.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
      const area = `${segment[0][0].toFixed(1)},${H - PAD} ${line} ${segment[segment.length - 1][0].toFixed(1)},${H - PAD}`;
      svg.append(
        s("polygon", { class: "spark-area", points: area }),
        s("polyline", { class: "spark-line", points: line }),
      );
    }
    segment = [];
  };
  points.forEach((point, i) => {
    if (times[i] === null) {
      flush();
      if (point.status === "unhealthy")
        svg.append(s("rect", { class: "spark-bad", x: x(i) - 1.25, y: H - PAD - 6, width: 2.5, height: 6, rx: 1 }));
    } else {
      segment.push([x(i), y(times[i])]);
    }
  });
  flush();
  const last = points.length - 1;
  if (times[last] !== null) {
    svg.append(
      s("circle", {
        class: ["spark-dot", `spark-dot-${points[last].status}`],
        cx: x(last),
        cy: y(times[last]),
        r: 2.4,
      }),
    );
  }
  const p50 = history.latency ? history.latency.p50 : null;
  svg.setAttribute(
    "aria-label",
    t("providers.spark.label", { count: points.length, median: formatMs(p50), uptime: formatPercent(history.uptime) }),
  );
  return svg;
}
