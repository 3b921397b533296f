// <health-chart>: latency over time for one provider (inline SVG), failed checks marked,
// with uptime and p50/p95 above it. Set `.history` to getHealthHistory's `history` object.
import { h, s, replaceChildren } from "../lib/dom.js";
import { formatDate, formatNumber, t } from "../lib/i18n.js";
import { formatMs, formatPercent, fullTime, relativeTime } from "../lib/format.js";

const W = 640;
const H = 170;
const PAD = { left: 52, right: 14, top: 12, bottom: 26 };

export class HealthChart extends HTMLElement {
  set history(value) {
    this._history = value;
    this._render();
  }

  get history() {
    return this._history;
  }

  set loading(value) {
    this.toggleAttribute("aria-busy", Boolean(value));
    if (value && !this._history)
      replaceChildren(this, h("p", { class: "muted chart-note" }, t("providers.chart.loading")));
  }

  set error(message) {
    replaceChildren(this, h("p", { class: "chart-note field-error" }, message));
  }

  _render() {
    const history = this._history;
    this.classList.add("health-chart");
    if (!history) return replaceChildren(this);
    const points = history.points || [];
    const stats = h(
      "dl",
      { class: "stats" },
      stat(t("providers.chart.uptime"), formatPercent(history.uptime)),
      stat("p50", formatMs(history.latency && history.latency.p50)),
      stat("p95", formatMs(history.latency && history.latency.p95)),
      stat(t("providers.chart.max"), formatMs(history.latency && history.latency.max)),
      stat(t("providers.chart.checks"), formatNumber(history.count ?? points.length)),
    );
    const since = h(
      "p",
      { class: "muted chart-caption" },
      t("providers.chart.since", { time: fullTime(history.since), ago: relativeTime(history.since) }),
    );
    if (points.length === 0) {
      return replaceChildren(this, stats, h("p", { class: "muted chart-note" }, t("providers.chart.empty")));
    }
    replaceChildren(this, stats, chartSvg(points), since);
  }
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, value));
}

function chartSvg(points) {
  const times = points.map((p) => Date.parse(p.lastChecked));
  const latencies = points.map((p) => (p.status !== "unhealthy" && p.responseTime != null ? p.responseTime : null));
  const top = niceCeiling(Math.max(50, ...latencies.filter((v) => v !== null)) * 1.1);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const span = Math.max(1, t1 - t0);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (t) => (points.length === 1 ? PAD.left + plotW / 2 : PAD.left + ((t - t0) / span) * plotW);
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  const svg = s("svg", {
    class: "chart-svg",
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    preserveAspectRatio: "xMidYMid meet",
  });
  svg.setAttribute(
    "aria-label",
    t("providers.chart.label", {
      count: points.length,
      failed: points.filter((p) => p.status === "unhealthy").length,
    }),
  );
  for (const fraction of [0, 0.5, 1]) {
    const gy = y(top * fraction);
    svg.append(
      s("line", { class: "chart-grid", x1: PAD.left, x2: W - PAD.right, y1: gy, y2: gy }),
      s("text", { class: "chart-label", x: PAD.left - 8, y: gy + 4, "text-anchor": "end" }, formatMs(top * fraction)),
    );
  }
  const labelTimes = points.length === 1 ? [t0] : [t0, t0 + span / 2, t1];
  labelTimes.forEach((t, i) => {
    const anchor = labelTimes.length === 1 ? "middle" : ["start", "middle", "end"][i];
    svg.append(s("text", { class: "chart-label", x: x(t), y: H - 6, "text-anchor": anchor }, clock(t, span)));
  });

  let segment = [];
  const flush = () => {
    if (segment.length > 1) svg.append(s("polyline", { class: "chart-line", points: segment.join(" ") }));
    segment = [];
  };
  points.forEach((point, i) => {
    if (latencies[i] === null) flush();
    else segment.push(`${x(times[i]).toFixed(1)},${y(latencies[i]).toFixed(1)}`);
  });
  flush();

  points.forEach((point, i) => {
    const tip = s("title", {}, describe(point));
    if (latencies[i] === null) {
      const cx = x(times[i]);
      const cy = PAD.top + plotH - 5;
      svg.append(
        s("g", { class: "chart-fail" }, s("path", { d: `M${cx - 4} ${cy - 4}l8 8M${cx + 4} ${cy - 4}l-8 8` }), tip),
      );
    } else {
      svg.append(
        s(
          "circle",
          {
            class: ["chart-point", `chart-point-${point.status}`],
            cx: x(times[i]),
            cy: y(latencies[i]),
            r: points.length > 80 ? 1.8 : 3,
          },
          tip,
        ),
      );
    }
  });
  return svg;
}

// A point's tooltip: "Dec 7, 2026, 2:05:33 PM: 182 ms, healthy" or "…: failed (AUTH_FAILED) — …".
function describe(point) {
  const when = fullTime(point.lastChecked);
  if (point.status !== "unhealthy")
    return t("providers.chart.point", { when, time: formatMs(point.responseTime), state: stateWord(point.status) });
  const code = point.errorCode ? ` (${point.errorCode})` : "";
  const message = point.error ? ` — ${point.error}` : "";
  return `${t("providers.chart.failed", { when })}${code}${message}`;
}

function stateWord(status) {
  const words = { healthy: "providers.chart.state.healthy", degraded: "providers.chart.state.degraded" };
  return words[status] ? t(words[status]) : status;
}

function clock(time, span) {
  let opts = { hour: "2-digit", minute: "2-digit" };
  if (span > 36 * 3600 * 1000) opts = { month: "short", day: "numeric", ...opts };
  else if (span < 10 * 60 * 1000) opts = { ...opts, second: "2-digit" };
  return formatDate(time, opts);
}

function niceCeiling(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const factor of [1, 2, 2.5, 5, 10]) {
    if (value <= factor * magnitude) return factor * magnitude;
  }
  return 10 * magnitude;
}

customElements.define("health-chart", HealthChart);
