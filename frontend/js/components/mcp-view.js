// <mcp-view>: the tools screen (#/tools) — the MCP servers the user added (docs/API.md, "Tools
// (MCP)"), each in a <mcp-server-card> with its status and tools; add and edit in
// <mcp-server-form>, remove after a confirmation. The chat turns servers on per conversation
// (chat-tool-servers.js); here they are set up.
//
// A server that is starting is read again every POLL_MS while the screen is shown, for at most
// POLL_LIMIT_MS after the last change the user made (a server that never finishes starting
// does not keep the page polling for ever).
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { joinParts } from "../lib/format.js";
import { PRESETS } from "../lib/mcp-presets.js";
import { mcpService } from "../services/mcp-service.js";
import { confirmDialog } from "./confirm-dialog.js";
import { toast } from "./toast-region.js";
import "./mcp-server-card.js";
import "./mcp-server-form.js";

const POLL_MS = 1500;
const POLL_LIMIT_MS = 120_000;

export class McpView extends HTMLElement {
  constructor() {
    super();
    this.service = mcpService;
    this._servers = [];
    this._cards = new Map();
    this._shown = new Map(); // server id → the JSON last drawn
    this._loaded = false;
    this._active = false;
    this._pollSince = Date.now();
    this._desktop = false;
  }

  connectedCallback() {
    if (this._built) return;
    this._built = true;
    this._build();
  }

  disconnectedCallback() {
    clearTimeout(this._timer);
    this._timer = null;
  }

  /** The shell says whether this view is on screen; it reads the servers again on showing. */
  set active(value) {
    const was = this._active;
    this._active = Boolean(value);
    if (this._active && !was) {
      this._pollSince = Date.now();
      this.load();
    }
    if (!this._active) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  get active() {
    return this._active;
  }

  /** Whether the desktop window's folder picker is there (the shell tells, from getAppInfo). */
  set desktop(value) {
    this._desktop = Boolean(value);
    if (this._form) this._form.desktop = this._desktop;
  }

  // --- layout ---------------------------------------------------------------------------

  _build() {
    this.classList.add("view", "mcp-view");
    this._heading = h(
      "h1",
      { class: "view-title", tabIndex: -1, dataset: { focusFallback: "" } },
      t("mcp.view.heading"),
    );
    this._summary = h("p", { class: "view-subtitle", "aria-live": "polite" }, t("common.loading"));
    this._addBtn = h(
      "button",
      { type: "button", class: "btn btn-primary add-server-btn", hidden: true, on: { click: () => this.openAdd() } },
      icon("plus", { size: 16 }),
      h("span", {}, t("mcp.view.add")),
    );
    const header = h(
      "header",
      { class: "view-header" },
      h("div", { class: "view-heading" }, this._heading, this._summary),
      h("div", { class: "toolbar" }, this._addBtn),
    );
    this._intro = h("p", { class: "mcp-intro muted", hidden: true }, t("mcp.view.intro"));
    this._list = h("div", { class: "mcp-list", role: "list", "aria-label": t("mcp.view.heading"), hidden: true });
    this._empty = h("div", { class: "empty-state mcp-empty", hidden: true });
    this._failure = h("div", { class: "load-failure", hidden: true });
    this._form = h("mcp-server-form");
    this._form.desktop = this._desktop;
    this._form.addEventListener("mcp-server-saved", (event) => this._onSaved(event.detail));
    this._form.addEventListener("mcp-server-missing", () => this.load());
    this.addEventListener("mcp-edit", (event) => this._edit(event.detail.id));
    this.addEventListener("mcp-remove", (event) => this._remove(event.detail.id));
    this.addEventListener("mcp-restart", (event) => this._restart(event.detail.id));
    this.addEventListener("mcp-toggle", (event) => this._toggle(event.detail.id, event.detail.enabled));
    this.addEventListener("mcp-tool-policy", (event) => this._policy(event.detail));
    this.append(
      header,
      h("div", { class: "view-body" }, this._failure, this._empty, this._intro, this._list),
      this._form,
    );
  }

  _renderEmpty() {
    replaceChildren(
      this._empty,
      h("span", { class: "placeholder-icon" }, icon("tool", { size: 36 })),
      h("h2", {}, t("mcp.view.emptyTitle")),
      h("p", { class: "muted" }, t("mcp.view.emptyText")),
      h(
        "div",
        { class: "empty-actions mcp-empty-presets" },
        PRESETS.map((p) =>
          h(
            "button",
            {
              type: "button",
              class: "btn",
              dataset: { preset: p.id },
              on: { click: () => this.openAdd(p.id) },
            },
            icon("tool", { size: 16 }),
            t(p.nameKey),
          ),
        ),
        h(
          "button",
          { type: "button", class: "btn btn-primary empty-add-server", on: { click: () => this.openAdd() } },
          icon("plus", { size: 16 }),
          t("mcp.view.addFirst"),
        ),
      ),
    );
  }

  // --- data -----------------------------------------------------------------------------

  /** Read the servers and draw them. */
  async load() {
    const seq = (this._seq = (this._seq || 0) + 1);
    const result = await this.service.getServers();
    if (seq !== this._seq) return;
    if (!result.success) {
      this._showFailure(result.error);
      return;
    }
    this._failure.hidden = true;
    this._servers = result.servers;
    this._loaded = true;
    this._render();
    this.setAttribute("data-ready", ""); // loaded: what tests may wait for
    this._schedule();
  }

  _showFailure(error) {
    if (this._loaded) {
      toast({ kind: "error", title: t("mcp.view.refreshFailed"), message: error.message });
      return;
    }
    this._summary.textContent = t("mcp.view.loadFailed");
    this._failure.hidden = false;
    replaceChildren(
      this._failure,
      icon("alert", { size: 28 }),
      h("h2", {}, t("mcp.view.loadFailed")),
      h("p", { class: "muted" }, error.message),
      h("button", { type: "button", class: "btn", on: { click: () => this.load() } }, t("common.retry")),
    );
  }

  // Read again soon while a server is starting (bounded; see the header).
  _schedule() {
    clearTimeout(this._timer);
    this._timer = null;
    const starting = this._servers.some((s) => s.enabled !== false && s.status === "starting");
    if (!starting || !this._active || !this.isConnected) return;
    if (Date.now() - this._pollSince > POLL_LIMIT_MS) return;
    this._timer = setTimeout(() => this.load(), POLL_MS);
  }

  // --- rendering ------------------------------------------------------------------------

  _render() {
    const ids = new Set(this._servers.map((s) => s.id));
    for (const [id, card] of this._cards) {
      if (ids.has(id)) continue;
      card.remove();
      this._cards.delete(id);
      this._shown.delete(id);
    }
    let previous = null;
    for (const server of this._servers) {
      let card = this._cards.get(server.id);
      if (!card) {
        card = h("mcp-server-card");
        this._cards.set(server.id, card);
      }
      const key = JSON.stringify(server);
      if (this._shown.get(server.id) !== key) {
        this._shown.set(server.id, key);
        card.server = server;
      }
      // Move only what is out of place, so the focus inside a card survives a refresh.
      const expected = previous ? previous.nextElementSibling : this._list.firstElementChild;
      if (expected !== card) {
        if (previous) previous.after(card);
        else this._list.prepend(card);
      }
      previous = card;
    }
    const none = this._servers.length === 0;
    this._list.hidden = none;
    this._intro.hidden = none;
    this._empty.hidden = !none;
    if (none) this._renderEmpty();
    this._addBtn.hidden = none;
    this._renderSummary();
  }

  _renderSummary() {
    if (this._servers.length === 0) {
      this._summary.textContent = t("mcp.view.none");
      return;
    }
    const count = (status) =>
      this._servers.filter((s) => (s.enabled === false ? "disabled" : s.status) === status).length;
    const parts = [t("mcp.view.summaryServers", { count: this._servers.length })];
    if (count("connected")) parts.push(t("mcp.view.summaryConnected", { count: count("connected") }));
    if (count("starting")) parts.push(t("mcp.view.summaryStarting", { count: count("starting") }));
    if (count("failed")) parts.push(t("mcp.view.summaryFailed", { count: count("failed") }));
    this._summary.textContent = joinParts(parts);
  }

  // --- actions --------------------------------------------------------------------------

  _server(id) {
    return this._servers.find((s) => s.id === id) || null;
  }

  _takenNames(exceptId = null) {
    return this._servers.filter((s) => s.id !== exceptId).map((s) => s.name);
  }

  /** Open the form for a new server (from preset `presetId` when given). */
  openAdd(presetId = null) {
    this._form.desktop = this._desktop;
    this._form.openAdd({ takenNames: this._takenNames(), presetId });
  }

  _edit(id) {
    const server = this._server(id);
    if (!server) return;
    this._form.desktop = this._desktop;
    this._form.openEdit(server, { takenNames: this._takenNames(id) });
  }

  async _onSaved({ server, created }) {
    const name = server.displayName || server.name;
    toast({ kind: "success", title: created ? t("mcp.view.added", { name }) : t("mcp.view.saved", { name }) });
    this._pollSince = Date.now();
    await this.load();
    const card = this._cards.get(server.id);
    if (card && created) card.scrollIntoView({ block: "nearest" });
  }

  async _remove(id) {
    const server = this._server(id);
    if (!server) return;
    const name = server.displayName || server.name;
    const ok = await confirmDialog({
      title: t("mcp.view.removeTitle", { name }),
      message: t("mcp.view.removeText"),
      confirmLabel: t("mcp.view.removeLabel"),
      danger: true,
    });
    if (!ok) return;
    const result = await this.service.removeServer(id);
    if (!result.success && result.error.code !== "NOT_FOUND") {
      toast({ kind: "error", title: t("mcp.view.removeFailed", { name }), message: result.error.message });
      return;
    }
    toast({ kind: "success", title: t("mcp.view.removed", { name }) });
    this._servers = this._servers.filter((s) => s.id !== id);
    this._render();
    this._heading.focus();
  }

  async _restart(id) {
    const server = this._server(id);
    if (!server) return;
    const result = await this.service.restartServer(id);
    if (!result.success) {
      const name = server.displayName || server.name;
      toast({ kind: "error", title: t("mcp.view.restartFailed", { name }), message: result.error.message });
    }
    this._pollSince = Date.now();
    this.load();
  }

  async _toggle(id, enabled) {
    const server = this._server(id);
    if (!server) return;
    const result = await this.service.updateServer(id, { enabled });
    if (!result.success) {
      const name = server.displayName || server.name;
      toast({ kind: "error", title: t("mcp.view.saveFailed", { name }), message: result.error.message });
      this._shown.delete(id); // draw the switch as it really is
    }
    this._pollSince = Date.now();
    this.load();
  }

  async _policy({ id, tool, policy }) {
    const result = await this.service.setToolPolicy(id, tool, policy);
    if (!result.success) {
      toast({ kind: "error", title: t("mcp.view.policyFailed", { tool }), message: result.error.message });
      this._shown.delete(id);
    }
    this.load();
  }
}

customElements.define("mcp-view", McpView);
