// <usage-chart>: one bar per day of the period, stacked by provider or by model, drawn with
// uPlot (vendored: vendor/README.md). The measure is requests, or the cost in one currency
// (costs in different currencies are never stacked together). The biggest seven keep their own
// colour; the rest are "Other". Colours and text come from the CSS variables, read again when
// the colour scheme changes; the legend and the hovered day's figures are HTML beside the
// canvas, and the canvas has a text alternative.
//
// In: `data` = {days: ["YYYY-MM-DD"…], rows (the day summary's rows), labels: Map providerId →
// name, currencies: ["USD", …]}. Out: nothing (the stack and measure are chosen here).
// `data-scheme` says which scheme the drawing is in (what tests wait for).
import { isDark, onThemeChange } from "../lib/theme.js";
import uPlot from "../../vendor/uplot-1.6.32/uPlot.esm.js";
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { dayLabel, exactCount, formatMoney } from "../lib/usage-format.js";

const HEIGHT = 240;
const OTHER = "(other)";
const OWN_COLOURS = 7;

export class UsageChart extends HTMLElement {
  connectedCallback() {
    if (this._plotBox) return this._follow(); // back in the page: follow the scheme again
    this.classList.add("usage-chart");
    this._stack = readChoice("stack", ["provider", "model"], "provider");
    this._measure = "requests";
    const measureId = uid("chart-measure");
    this._stackButtons = ["provider", "model"].map((value) =>
      h(
        "button",
        {
          type: "button",
          class: "seg-btn",
          role: "radio",
          dataset: { stack: value },
          on: { click: () => this._setStack(value, false) },
        },
        value === "provider" ? t("usage.chart.byProvider") : t("usage.chart.byModel"),
      ),
    );
    const stackGroup = h(
      "div",
      { class: "seg seg-sm", role: "radiogroup", "aria-label": t("usage.chart.stackBy") },
      this._stackButtons,
    );
    stackGroup.addEventListener("keydown", (event) => {
      if (!["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(event.key)) return;
      event.preventDefault();
      this._setStack(this._stack === "provider" ? "model" : "provider", true);
    });
    this._measureSelect = h("select", { id: measureId, class: "input select chart-measure" });
    this._measureSelect.addEventListener("change", () => {
      this._measure = this._measureSelect.value;
      this._draw();
    });
    this._plotBox = h("div", { class: "chart-plot", role: "img" });
    this._empty = h("p", { class: "chart-empty muted", hidden: true }, t("usage.empty"));
    this._legend = h("ul", { class: "chart-legend", "aria-label": t("usage.chart.legend") });
    this._readout = h("p", { class: "chart-readout muted" }, t("usage.chart.hint"));
    this.append(
      h(
        "div",
        { class: "chart-controls" },
        stackGroup,
        h("span", { class: "spacer" }),
        h("label", { for: measureId }, t("usage.chart.measure")),
        this._measureSelect,
      ),
      h("div", { class: "chart-frame" }, this._plotBox, this._empty),
      this._legend,
      this._readout,
    );
    this._resize = new ResizeObserver(() => this._fit());
    this._resize.observe(this._plotBox);
    this._follow();
    if (this._data) this._draw();
  }

  // The theme setting or the OS may change the scheme: redraw in its colours.
  _follow() {
    this._stopFollowing = onThemeChange(() => this._draw());
  }

  disconnectedCallback() {
    if (this._stopFollowing) this._stopFollowing();
    this._stopFollowing = null;
  }

  _setStack(value, focus) {
    this._stack = value;
    keepChoice("stack", value);
    this._draw();
    if (focus) this._stackButtons.find((b) => b.dataset.stack === value).focus();
  }

  set data(value) {
    this._data = value;
    if (this._plotBox) this._draw();
  }

  _measures() {
    return ["requests", ...(this._data.currencies || []).map((cur) => `cost:${cur}`)];
  }

  _draw() {
    const data = this._data;
    if (!data || !this._plotBox) return;
    const measures = this._measures();
    if (!measures.includes(this._measure)) this._measure = "requests";
    replaceChildren(
      this._measureSelect,
      measures.map((m) => h("option", { value: m }, measureName(m))),
    );
    this._measureSelect.value = this._measure;
    const model = buildSeries(data, this._stack, this._measure);
    this._model = model;
    const colours = this._colours();
    const shown = model.keys.map((k, i) => ({
      ...k,
      colour: k.other ? colours.other : colours.series[i % colours.series.length],
    }));
    this._shown = shown;
    if (this._plot) this._plot.destroy();
    this._plot = null;
    replaceChildren(this._plotBox);
    this._empty.hidden = model.total > 0;
    this._renderLegend(shown);
    const alt = { what: measureName(this._measure), count: data.days.length, total: this._format(model.total) };
    this._plotBox.setAttribute(
      "aria-label",
      this._stack === "provider" ? t("usage.chart.altByProvider", alt) : t("usage.chart.altByModel", alt),
    );
    this._readout.textContent = t("usage.chart.hint");
    const width = this._plotBox.clientWidth;
    if (width > 0)
      this._plot = new uPlot(this._options(shown, colours, width), stacked(model, data.days.length), this._plotBox);
    for (const button of this._stackButtons) {
      const on = button.dataset.stack === this._stack;
      button.setAttribute("aria-checked", String(on));
      button.tabIndex = on ? 0 : -1;
    }
    this.dataset.scheme = isDark() ? "dark" : "light";
    this.dataset.stack = this._stack;
  }

  // Hidden while the view was hidden: drawn (or resized) once it has a width.
  _fit() {
    const width = this._plotBox.clientWidth;
    if (!width || !this._data) return;
    if (!this._plot) return this._draw();
    if (Math.abs(this._plot.width - width) > 1) this._plot.setSize({ width, height: HEIGHT });
  }

  _colours() {
    const css = getComputedStyle(this);
    const read = (name) => css.getPropertyValue(name).trim();
    return {
      series: Array.from({ length: OWN_COLOURS }, (_, i) => read(`--chart-${i + 1}`)),
      other: read("--chart-other"),
      text: read("--text-2"),
      grid: read("--border"),
      font: `12px ${getComputedStyle(document.body).fontFamily}`,
    };
  }

  _format(value) {
    return this._measure === "requests" ? exactCount(value) : formatMoney(value, this._measure.slice(5));
  }

  _options(shown, colours, width) {
    const days = this._data.days;
    const n = days.length;
    const yearOf = (i) => days[i].slice(0, 4);
    const withYear = yearOf(0) !== yearOf(n - 1);
    const bars = uPlot.paths.bars({ size: [0.72, 56], align: 0 });
    // Drawn tallest first, so each lower part of the stack paints over the one above it.
    const series = shown
      .map((k) => ({
        label: k.label,
        fill: k.colour,
        stroke: k.colour,
        width: 0,
        paths: bars,
        points: { show: false },
      }))
      .reverse();
    const money = this._measure !== "requests";
    return {
      width,
      height: HEIGHT,
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: false, y: false, setScale: false }, y: false },
      select: { show: false },
      scales: {
        x: { time: false, range: () => [-0.5, n - 0.5] },
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] },
      },
      axes: [
        {
          stroke: colours.text,
          font: colours.font,
          grid: { show: false },
          ticks: { stroke: colours.grid, width: 1, size: 4 },
          size: 30,
          space: 46,
          incrs: [1, 2, 3, 7, 14, 28, 56, 91, 182, 364],
          values: (u, splits) =>
            splits.map((i) =>
              Number.isInteger(i) && i >= 0 && i < n
                ? dayLabel(days[i], withYear && (i === 0 || days[i].endsWith("-01-01")))
                : "",
            ),
        },
        {
          stroke: colours.text,
          font: colours.font,
          grid: { stroke: colours.grid, width: 1 },
          ticks: { show: false },
          size: money ? 64 : 44,
          incrs: money
            ? undefined
            : [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000],
          values: (u, splits) => splits.map((v) => (money ? formatMoney(v, this._measure.slice(5)) : exactCount(v))),
        },
      ],
      series: [{}, ...series],
      hooks: { setCursor: [(u) => this._onCursor(u.cursor.idx)] },
    };
  }

  _renderLegend(shown) {
    replaceChildren(
      this._legend,
      shown.map((k) => {
        const swatch = h("span", { class: "legend-swatch", "aria-hidden": "true" });
        swatch.style.setProperty("--swatch", k.colour);
        return h(
          "li",
          { class: "legend-item", dataset: { key: k.key } },
          swatch,
          h("span", { class: "legend-label" }, k.label),
          " ",
          h("span", { class: "legend-value" }, this._format(k.total)),
        );
      }),
    );
  }

  _onCursor(idx) {
    const model = this._model;
    if (idx === null || idx === undefined || !model || idx < 0 || idx >= this._data.days.length) {
      this._readout.textContent = t("usage.chart.hint");
      return;
    }
    const parts = this._shown.map((k) => ({ k, value: model.values[k.key][idx] })).filter((p) => p.value > 0);
    const total = parts.reduce((sum, p) => sum + p.value, 0);
    replaceChildren(
      this._readout,
      h("strong", {}, t("usage.chart.day", { day: dayLabel(this._data.days[idx], true), total: this._format(total) })),
      parts.map((p) => {
        const swatch = h("span", { class: "legend-swatch", "aria-hidden": "true" });
        swatch.style.setProperty("--swatch", p.k.colour);
        return h("span", { class: "readout-part" }, swatch, `${p.k.label} ${this._format(p.value)}`);
      }),
    );
  }
}

/**
 * The chart's series: per stacked key (provider id or model) its value on each day, the
 * biggest OWN_COLOURS keys on their own and the rest summed as "Other".
 */
export function buildSeries(data, stack, measure) {
  const index = new Map(data.days.map((d, i) => [d, i]));
  const field = stack === "provider" ? "byProvider" : "byModel";
  const currency = measure.startsWith("cost:") ? measure.slice(5) : null;
  const values = new Map();
  for (const row of data.rows || []) {
    const at = index.get(row.key);
    if (at === undefined) continue;
    for (const [key, part] of Object.entries(row[field] || {})) {
      const value = currency ? Number((part.cost || {})[currency]) || 0 : Number(part.requests) || 0;
      if (!values.has(key)) values.set(key, new Array(data.days.length).fill(0));
      values.get(key)[at] += value;
    }
  }
  const totals = [...values]
    .map(([key, list]) => ({ key, total: list.reduce((a, b) => a + b, 0) }))
    .filter((k) => k.total > 0);
  totals.sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
  const own = totals.length > OWN_COLOURS + 1 ? totals.slice(0, OWN_COLOURS) : totals;
  const rest = totals.slice(own.length);
  const label = (key) =>
    stack === "provider" ? (data.labels && data.labels.get(key)) || t("usage.removedProvider") : key;
  const keys = own.map((k) => ({ key: k.key, label: label(k.key), total: k.total, other: false }));
  const out = Object.fromEntries(own.map((k) => [k.key, values.get(k.key)]));
  if (rest.length) {
    const sum = new Array(data.days.length).fill(0);
    for (const k of rest) values.get(k.key).forEach((v, i) => (sum[i] += v));
    keys.push({ key: OTHER, label: t("usage.chart.other"), total: rest.reduce((a, k) => a + k.total, 0), other: true });
    out[OTHER] = sum;
  }
  return { keys, values: out, total: totals.reduce((a, k) => a + k.total, 0) };
}

/** "Requests", "Cost in CNY": a measure of the chart ("requests" or "cost:<currency>") in words. */
function measureName(measure) {
  return measure === "requests" ? t("usage.chart.requests") : t("usage.chart.costIn", { currency: measure.slice(5) });
}

// uPlot's data: x (the day's index), then each key's running sum, tallest first.
function stacked(model, n) {
  const running = new Array(n).fill(0);
  const sums = model.keys.map((k) => {
    model.values[k.key].forEach((v, i) => (running[i] += v));
    return running.slice();
  });
  return [Array.from({ length: n }, (_, i) => i), ...sums.reverse()];
}

function readChoice(name, allowed, fallback) {
  try {
    const value = localStorage.getItem(`miaoda.usage.chart.${name}`);
    return allowed.includes(value) ? value : fallback;
  } catch {
    return fallback;
  }
}

function keepChoice(name, value) {
  try {
    localStorage.setItem(`miaoda.usage.chart.${name}`, value);
  } catch {
    /* this page only */
  }
}

customElements.define("usage-chart", UsageChart);
