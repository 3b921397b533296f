// <chat-tool-servers>: the chat header's "Tools" button and its panel — which tool servers
// (docs/API.md, "Tools (MCP)") the conversation offers the model, one checkbox each, with each
// server's status and how many of its tools are on; a link to the tools screen. The button says
// how many are on. A disclosure (button + panel, not a modal): Esc or a click elsewhere closes
// it, Esc gives the focus back to the button.
//
// In: `servers` (getAllMcpServers' list), `value` (the ids on). Out (bubbling):
// `tool-servers-change` {ids}.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";
import { describeStatus } from "../lib/mcp-presets.js";

export class ChatToolServers extends HTMLElement {
  constructor() {
    super();
    this._servers = [];
    this._value = [];
  }

  connectedCallback() {
    if (this._button) return;
    this.classList.add("tool-servers");
    const panelId = uid("tool-servers");
    this._count = h("span", { class: "tool-servers-count", hidden: true });
    this._button = h(
      "button",
      {
        type: "button",
        class: "btn tool-servers-btn",
        title: t("mcp.picker.help"),
        "aria-expanded": "false",
        "aria-controls": panelId,
      },
      icon("tool", { size: 16 }),
      h("span", { class: "label-collapsible" }, t("mcp.picker.button")),
      this._count,
    );
    this._title = h("h2", { class: "tool-servers-title", id: uid("tool-servers-title") }, t("mcp.picker.title"));
    this._list = h("ul", { class: "tool-servers-list" });
    this._empty = h("p", { class: "muted tool-servers-empty", hidden: true }, t("mcp.picker.empty"));
    this._panel = h(
      "div",
      { id: panelId, class: "tool-servers-panel", role: "group", "aria-labelledby": this._title.id, hidden: true },
      this._title,
      h("p", { class: "muted tool-servers-help" }, t("mcp.picker.text")),
      this._empty,
      this._list,
      h(
        "a",
        { class: "btn btn-sm btn-ghost tool-servers-manage", href: "#/tools", on: { click: () => this._close(false) } },
        icon("settings", { size: 14 }),
        t("mcp.picker.manage"),
      ),
    );
    this._button.addEventListener("click", () => (this._panel.hidden ? this._open() : this._close(true)));
    this._panel.addEventListener("change", (event) => this._changed(event));
    this._panel.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      event.stopPropagation();
      this._close(true);
    });
    this._outside = (event) => {
      if (!this.contains(event.target)) this._close(false);
    };
    this.append(this._button, this._panel);
    this._render();
  }

  disconnectedCallback() {
    document.removeEventListener("pointerdown", this._outside, true);
  }

  /** The servers to choose from (as getAllMcpServers gives them). */
  set servers(list) {
    this._servers = Array.isArray(list) ? list : [];
    this._render();
  }

  /** The ids of the servers on for this conversation. */
  set value(ids) {
    const next = Array.isArray(ids) ? ids.map(String) : [];
    if (next.join("\n") === this._value.join("\n")) return;
    this._value = next;
    this._render();
  }

  get value() {
    return [...this._value];
  }

  set disabled(value) {
    if (this._button) this._button.disabled = Boolean(value);
  }

  _open() {
    this._panel.hidden = false;
    this._button.setAttribute("aria-expanded", "true");
    document.addEventListener("pointerdown", this._outside, true);
    const first = this._panel.querySelector("input:not(:disabled), a");
    if (first) first.focus();
  }

  _close(refocus) {
    this._panel.hidden = true;
    this._button.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", this._outside, true);
    if (refocus) this._button.focus();
  }

  _changed(event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.dataset.serverId) return;
    const id = box.dataset.serverId;
    const ids = this._value.filter((one) => one !== id);
    if (box.checked) ids.push(id);
    // Keep the order of the list, so the same choice is always the same value.
    const order = this._servers.map((s) => s.id);
    ids.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    this._value = ids;
    this._renderCount();
    this.dispatchEvent(new CustomEvent("tool-servers-change", { bubbles: true, detail: { ids: [...ids] } }));
  }

  _render() {
    if (!this._list) return;
    const focused = this._list.contains(document.activeElement) ? document.activeElement.dataset.serverId : null;
    const known = new Set(this._servers.map((s) => s.id));
    replaceChildren(
      this._list,
      this._servers.map((server) => this._row(server)),
      // A server the conversation names that is gone: shown, so it can be turned off.
      this._value.filter((id) => !known.has(id)).map((id) => this._row({ id, gone: true })),
    );
    this._empty.hidden = this._list.childElementCount > 0;
    this._renderCount();
    if (focused) {
      const again = this._list.querySelector(`input[data-server-id="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  _row(server) {
    const on = this._value.includes(server.id);
    const name = server.gone ? t("mcp.picker.gone") : server.displayName || server.name;
    const box = h("input", { type: "checkbox", class: "checkbox", checked: on, dataset: { serverId: server.id } });
    let detail = "";
    let status = "gone";
    if (!server.gone) {
      const state = describeStatus(server.enabled === false ? "disabled" : server.status);
      const tools = (server.tools || []).filter((tool) => tool.enabled !== false).length;
      status = state.status;
      detail =
        state.status === "connected"
          ? t("mcp.picker.tools", { count: tools })
          : state.status === "disabled"
            ? t("mcp.picker.off")
            : state.label;
    }
    return h(
      "li",
      { class: "tool-servers-item", dataset: { status } },
      h(
        "label",
        { class: "tool-servers-choice" },
        box,
        h("span", { class: "tool-servers-dot", "aria-hidden": "true" }),
        h("span", { class: "tool-servers-name" }, name),
        h("span", { class: "tool-servers-detail muted" }, detail),
      ),
    );
  }

  _renderCount() {
    const count = this._value.length;
    this._count.hidden = count === 0;
    this._count.textContent = String(count);
    this._button.classList.toggle("is-on", count > 0);
    this._button.setAttribute("aria-label", count ? t("mcp.picker.buttonOn", { count }) : t("mcp.picker.button"));
  }
}

customElements.define("chat-tool-servers", ChatToolServers);
