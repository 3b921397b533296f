// <mcp-server-card>: one tool server on the tools screen — its names, how it is reached (the
// command line or the URL), its status ("Connected", "Starting…", "Failed" with the error's code
// and message, "Off"), a switch that turns it on and off, Restart, Edit, Remove, and its tools,
// each with a switch (offered to the model or not) and its approval ("Ask every time" / "Always
// allow"). Tool rows are updated in place, so a refresh does not take the focus away.
//
// Data flows down (`server`); user intent goes up as bubbling events with `{id}` in `detail`:
// `mcp-edit`, `mcp-remove`, `mcp-restart`, `mcp-toggle` {enabled}, `mcp-tool-policy` {tool, policy}.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";
import { describeStatus, serverTarget } from "../lib/mcp-presets.js";

const BADGE_CLASSES = {
  connected: "badge-healthy",
  starting: "badge-checking",
  failed: "badge-unhealthy",
  disabled: "badge-off",
};

export class McpServerCard extends HTMLElement {
  constructor() {
    super();
    this._server = null;
    this._rows = new Map(); // tool name → its row
  }

  get serverId() {
    return this._server ? this._server.id : null;
  }

  set server(value) {
    this._server = value;
    if (!this._built) this._build();
    this._render();
  }

  get server() {
    return this._server;
  }

  _build() {
    this._built = true;
    this.classList.add("card", "mcp-card");
    this.setAttribute("role", "listitem");
    this._title = h("h2", { class: "mcp-title" });
    this._name = h("code", { class: "card-name" });
    this._transport = h("span", { class: "mcp-transport-tag" });
    this._target = h("code", { class: "mcp-target" });
    this._badge = h("span", { class: "badge mcp-status", role: "status" });
    this._switch = h("input", {
      type: "checkbox",
      class: "switch-input",
      role: "switch",
      on: { change: () => this._emit("mcp-toggle", { enabled: this._switch.checked }) },
    });
    this._switchLabel = h("label", { class: "mcp-switch" }, this._switch, h("span", { class: "switch-track" }));
    this._restartBtn = h(
      "button",
      { type: "button", class: "btn btn-sm restart-btn", on: { click: () => this._emit("mcp-restart") } },
      icon("retry", { size: 14 }),
      t("mcp.card.restart"),
    );
    this._editBtn = h(
      "button",
      { type: "button", class: "icon-btn edit-btn", on: { click: () => this._emit("mcp-edit") } },
      icon("edit"),
    );
    this._removeBtn = h(
      "button",
      { type: "button", class: "icon-btn danger delete-btn", on: { click: () => this._emit("mcp-remove") } },
      icon("trash"),
    );
    this._error = h("div", { class: "mcp-error", role: "note", hidden: true });
    this._toolsCount = h("span", { class: "mcp-tools-count" });
    this._toolsNote = h("p", { class: "muted mcp-tools-note", hidden: true });
    this._toolList = h("ul", { class: "mcp-tool-list" });
    this._tools = h(
      "details",
      { class: "mcp-tools" },
      h("summary", {}, icon("chevron", { size: 14, className: "section-chevron" }), this._toolsCount),
      this._toolsNote,
      this._toolList,
    );
    this.append(
      h(
        "div",
        { class: "mcp-head" },
        h("span", { class: "mcp-icon", "aria-hidden": "true" }, icon("tool", { size: 20 })),
        h(
          "div",
          { class: "mcp-ident" },
          h("div", { class: "mcp-title-row" }, this._title, this._badge),
          h("div", { class: "card-meta" }, this._name, this._transport, this._target),
        ),
        h("div", { class: "card-actions" }, this._restartBtn, this._switchLabel, this._editBtn, this._removeBtn),
      ),
      this._error,
      this._tools,
    );
  }

  _render() {
    const server = this._server;
    const name = server.displayName || server.name;
    this.dataset.serverId = server.id;
    this.dataset.status = server.status;
    this._title.textContent = name;
    this._name.textContent = server.name;
    this._transport.textContent = server.transport === "http" ? "HTTP" : "stdio";
    const target = serverTarget(server);
    this._target.textContent = target;
    this._target.title = target;

    const status = describeStatus(server.enabled === false ? "disabled" : server.status);
    this._badge.className = ["badge", "mcp-status", BADGE_CLASSES[status.status]].join(" ");
    replaceChildren(this._badge, icon(status.icon, { size: 13 }), status.label);

    const on = server.enabled !== false;
    this._switch.checked = on;
    const switchLabel = t(on ? "mcp.card.turnOff" : "mcp.card.turnOn", { name });
    this._switch.setAttribute("aria-label", switchLabel);
    this._switchLabel.title = switchLabel;
    this._restartBtn.hidden = !on || server.status === "starting";
    this._restartBtn.setAttribute("aria-label", t("mcp.card.restartHelp", { name }));
    this._restartBtn.title = t("mcp.card.restartHelp", { name });
    for (const [button, key] of [
      [this._editBtn, "mcp.card.edit"],
      [this._removeBtn, "mcp.card.remove"],
    ]) {
      button.title = t(key, { name });
      button.setAttribute("aria-label", t(key, { name }));
    }

    const error = on && server.status === "failed" ? server.error : null;
    this._error.hidden = !error;
    if (error)
      replaceChildren(
        this._error,
        icon("alert", { size: 16 }),
        h(
          "div",
          { class: "mcp-error-text" },
          error.code ? h("span", { class: "error-code" }, error.code) : null,
          h("p", { class: "mcp-error-message" }, error.message || t("mcp.card.failedNoReason")),
        ),
      );
    this._renderTools(server, on);
  }

  _renderTools(server, on) {
    const tools = server.tools || [];
    const offered = tools.filter((tool) => tool.enabled !== false).length;
    this._toolsCount.textContent = tools.length
      ? t("mcp.card.toolsCount", { count: tools.length, offered })
      : t("mcp.card.toolsNone");
    const note =
      tools.length > 0
        ? ""
        : !on
          ? t("mcp.card.toolsOff")
          : server.status === "starting"
            ? t("mcp.card.toolsStarting")
            : server.status === "failed"
              ? t("mcp.card.toolsFailed")
              : t("mcp.card.toolsEmpty");
    this._toolsNote.textContent = note;
    this._toolsNote.hidden = !note;
    this._toolList.hidden = tools.length === 0;
    const names = new Set(tools.map((tool) => tool.name));
    for (const [name, row] of this._rows) {
      if (names.has(name)) continue;
      row.remove();
      this._rows.delete(name);
    }
    let previous = null;
    for (const tool of tools) {
      let row = this._rows.get(tool.name);
      if (!row) {
        row = this._toolRow(tool.name);
        this._rows.set(tool.name, row);
      }
      this._fillToolRow(row, tool);
      const expected = previous ? previous.nextElementSibling : this._toolList.firstElementChild;
      if (expected !== row) {
        if (previous) previous.after(row);
        else this._toolList.prepend(row);
      }
      previous = row;
    }
  }

  _toolRow(name) {
    const enabled = h("input", { type: "checkbox", class: "checkbox" });
    const approval = h(
      "select",
      { class: "input select mcp-approval" },
      h("option", { value: "ask" }, t("mcp.approval.ask")),
      h("option", { value: "always" }, t("mcp.approval.always")),
    );
    enabled.addEventListener("change", () =>
      this._emit("mcp-tool-policy", { tool: name, policy: { enabled: enabled.checked } }),
    );
    approval.addEventListener("change", () =>
      this._emit("mcp-tool-policy", { tool: name, policy: { approval: approval.value } }),
    );
    const description = h("p", { class: "mcp-tool-desc" });
    const row = h(
      "li",
      { class: "mcp-tool", dataset: { tool: name } },
      h("label", { class: "mcp-tool-use" }, enabled, h("code", { class: "mcp-tool-name" }, name)),
      description,
      approval,
    );
    Object.assign(row, { enabledInput: enabled, approvalSelect: approval, description });
    enabled.setAttribute("aria-label", t("mcp.card.toolUse", { tool: name }));
    approval.setAttribute("aria-label", t("mcp.card.toolApproval", { tool: name }));
    return row;
  }

  _fillToolRow(row, tool) {
    row.enabledInput.checked = tool.enabled !== false;
    row.approvalSelect.value = tool.approval === "always" ? "always" : "ask";
    row.approvalSelect.disabled = tool.enabled === false;
    row.classList.toggle("is-off", tool.enabled === false);
    const text = tool.description || "";
    if (row.description.textContent !== text) {
      row.description.textContent = text;
      row.description.title = text;
    }
  }

  _emit(type, extra = {}) {
    this.dispatchEvent(new CustomEvent(type, { bubbles: true, detail: { id: this._server.id, ...extra } }));
  }
}

customElements.define("mcp-server-card", McpServerCard);
