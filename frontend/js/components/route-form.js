// <route-form>: the dialog that adds or edits a route — display name, name, strategy (each with
// a line saying what it does) and the providers in the order tried. Members are picked from the
// saved providers and put in order with the up/down buttons or by dragging a row; the server
// judges the result, and its messages appear next to the fields they concern (`members.2` →
// the members list). Emits "route-saved" ({detail: {route, created}}) and "route-missing"
// ({detail: {id}}) when the route being edited is gone.
import { h, replaceChildren, uid } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { formErrorBox, showFormError } from "../lib/form-error.js";
import { dialogHeader, openModal } from "../lib/modal.js";
import { adviceFor } from "../lib/advice.js";
import { hints, suggestName } from "../lib/provider-rules.js";
import { t } from "../lib/i18n.js";
import { STRATEGIES } from "../lib/route-rules.js";
import { routeService } from "../services/route-service.js";

const HINT_DELAY_MS = 900;
// The fields' labels, also named in the summary of the server's errors.
const LABELS = {
  displayName: "routes.form.displayName",
  name: "routes.form.name",
  strategy: "routes.form.strategy",
  members: "routes.form.members",
};
// Which field a server key belongs to: `members.3` is about the members list.
const FIELD_OF = (key) => (key.startsWith("members") ? "members" : key);

export class RouteForm extends HTMLElement {
  constructor() {
    super();
    this.service = routeService;
    this._f = {};
    this._members = [];
    this._providers = [];
    this._generation = 0;
  }

  connectedCallback() {
    if (this._dialog) return;
    this._build();
  }

  /** Open for a new route; `providers` to choose from, `takenNames` keeps the suggested name unique. */
  openAdd({ providers = [], takenNames = [] } = {}) {
    this._mode = "add";
    this._original = null;
    this._providers = providers;
    this._taken = new Set(takenNames);
    this._reset();
    this._nameAuto = true;
    this._titleEl.textContent = t("routes.form.addTitle");
    this._subtitle.textContent = t("routes.form.addSubtitle");
    this._setStrategy("failover");
    this._renderMembers();
    openModal(this._dialog, { focus: this._f.displayName.input });
  }

  /** Open with a saved route's values. */
  openEdit(route, { providers = [], takenNames = [] } = {}) {
    this._mode = "edit";
    this._original = route;
    this._providers = providers;
    this._taken = new Set(takenNames.filter((n) => n.toLowerCase() !== route.name.toLowerCase()));
    this._reset();
    this._nameAuto = false;
    this._titleEl.textContent = t("routes.form.editTitle", { name: route.displayName });
    this._subtitle.textContent = t("routes.form.editSubtitle");
    this._f.displayName.input.value = route.displayName;
    this._f.name.input.value = route.name;
    this._setStrategy(route.strategy);
    this._members = [...route.members];
    this._renderMembers();
    openModal(this._dialog, { focus: this._f.displayName.input });
  }

  get isOpen() {
    return Boolean(this._dialog && this._dialog.open);
  }

  // --- building -------------------------------------------------------------------------

  _build() {
    const titleId = uid("route-form-title");
    const header = dialogHeader({
      titleId,
      subtitle: "",
      closeTitle: t("routes.form.closeHint"),
      onClose: () => this._dialog.close(),
    });
    this._titleEl = header.title;
    this._subtitle = header.subtitle;
    this._formError = formErrorBox();
    const input = (props) =>
      h("input", { type: "text", class: "input", autocomplete: "off", spellcheck: false, ...props });
    this._saveBtn = h(
      "button",
      { type: "submit", class: "btn btn-primary save-btn" },
      h("span", {}, t("routes.form.save")),
    );
    this._announcer = h("p", { class: "sr-only", role: "status", "aria-live": "polite" });

    this._form = h(
      "form",
      { class: "dialog-form", noValidate: true, autocomplete: "off" },
      header.element,
      h(
        "div",
        { class: "dialog-body" },
        this._formError,
        h(
          "div",
          { class: "form-grid" },
          this._field("displayName", input({ placeholder: t("routes.form.displayNamePlaceholder") })),
          this._field("name", input({ placeholder: t("routes.form.namePlaceholder") }), t("routes.form.nameHelp")),
        ),
        this._buildStrategy(),
        this._buildMembers(),
        this._announcer,
      ),
      h(
        "footer",
        { class: "dialog-footer" },
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", on: { click: () => this._dialog.close() } }, t("common.cancel")),
        this._saveBtn,
      ),
    );
    this._form.addEventListener("submit", (event) => {
      event.preventDefault();
      this._save();
    });
    this._form.addEventListener("input", (event) => this._onInput(event));
    this._dialog = h("dialog", { class: "dialog dialog-wide route-dialog", "aria-labelledby": titleId }, this._form);
    this._dialog.addEventListener("close", () => {
      this._generation += 1;
    });
    this.append(this._dialog);
  }

  _field(key, control, help) {
    const id = uid(`route-${key}`);
    control.id = id;
    control.dataset.field = key;
    const msg = h("p", { class: "field-msg", id: `${id}-msg`, "aria-live": "polite" });
    const helpEl = help ? h("p", { class: "field-help", id: `${id}-help` }, help) : null;
    control.setAttribute("aria-describedby", [helpEl && helpEl.id, msg.id].filter(Boolean).join(" "));
    const wrap = h(
      "div",
      { class: "field", dataset: { field: key } },
      h("label", { for: id }, t(LABELS[key])),
      control,
      helpEl,
      msg,
    );
    this._f[key] = { input: control, msg, wrap };
    return wrap;
  }

  _buildStrategy() {
    const group = uid("strategy");
    const msg = h("p", { class: "field-msg", "aria-live": "polite" });
    const options = STRATEGIES.map((s) => {
      const helpId = uid("strategy-help");
      const radio = h("input", {
        type: "radio",
        class: "radio",
        name: group,
        value: s.value,
        "aria-describedby": helpId,
        dataset: { field: "strategy", strategy: s.value },
      });
      const label = h(
        "label",
        { class: "strategy-option" },
        radio,
        h(
          "span",
          { class: "strategy-text" },
          h("span", { class: "strategy-name" }, t(s.label)),
          h("span", { class: "strategy-help", id: helpId }, t(s.help)),
        ),
      );
      return { radio, label };
    });
    this._strategyInputs = options.map((o) => o.radio);
    const wrap = h(
      "fieldset",
      { class: "field strategy-field", dataset: { field: "strategy" } },
      h("legend", { class: "field-label" }, t(LABELS.strategy)),
      h(
        "div",
        { class: "strategy-options" },
        options.map((o) => o.label),
      ),
      msg,
    );
    this._f.strategy = { input: this._strategyInputs[0], msg, wrap };
    return wrap;
  }

  _buildMembers() {
    const labelId = uid("members-label");
    const helpId = uid("members-help");
    const msg = h("p", { class: "field-msg", id: uid("members-msg"), "aria-live": "polite" });
    this._memberList = h("ol", {
      class: "member-list",
      "aria-labelledby": labelId,
      "aria-describedby": `${helpId} ${msg.id}`,
    });
    this._memberList.addEventListener("dragover", (event) => this._onDragOver(event));
    this._memberList.addEventListener("drop", (event) => this._onDrop(event));
    this._memberEmpty = h("p", { class: "member-empty muted" }, t("routes.form.noMembers"));
    this._addRow = h("div", { class: "member-add" });
    const wrap = h(
      "div",
      { class: "field members-field", dataset: { field: "members" } },
      h("span", { class: "field-label", id: labelId }, t(LABELS.members)),
      this._memberList,
      this._memberEmpty,
      this._addRow,
      h("p", { class: "field-help", id: helpId }, t("routes.form.membersHelp")),
      msg,
    );
    this._f.members = { input: this._memberList, msg, wrap };
    return wrap;
  }

  // --- state ----------------------------------------------------------------------------

  _reset() {
    clearTimeout(this._hintTimer);
    this._members = [];
    this._touched = new Set();
    for (const key of Object.keys(this._f)) this._setMessage(key, "");
    this._f.displayName.input.value = "";
    this._f.name.input.value = "";
    this._setFormError("");
    this._unplaced = 0;
    this._setBusy(false);
  }

  _setStrategy(value) {
    for (const radio of this._strategyInputs) radio.checked = radio.value === value;
    if (!this._strategyInputs.some((r) => r.checked)) this._strategyInputs[0].checked = true;
  }

  _strategy() {
    const chosen = this._strategyInputs.find((r) => r.checked);
    return chosen ? chosen.value : "failover";
  }

  _onInput(event) {
    const key = event.target.dataset && event.target.dataset.field;
    if (!key) return;
    if (key === "displayName" && this._nameAuto) {
      const display = this._f.displayName.input.value;
      this._f.name.input.value = display.trim() ? suggestName(display, this._taken) : "";
    }
    if (key === "name") this._nameAuto = false;
    this._fieldEdited(key);
    if (key !== "displayName" && key !== "name") return;
    // Hints once typing pauses (as in the provider form: not on blur, which moves the layout
    // under the pointer).
    clearTimeout(this._hintTimer);
    this._hintTimer = setTimeout(() => {
      this._touched.add(key);
      this._showHints();
    }, HINT_DELAY_MS);
  }

  _showHints() {
    for (const key of this._touched) {
      if (this._f[key].wrap.classList.contains("has-server-error")) continue;
      const value = this._f[key].input.value;
      this._setMessage(key, (key === "name" ? hints.name(value.trim()) : hints.displayName(value)) || "", "hint");
    }
  }

  // --- members --------------------------------------------------------------------------

  _provider(id) {
    return this._providers.find((p) => p.id === id) || null;
  }

  _nameOf(id) {
    const provider = this._provider(id);
    return provider ? provider.displayName : t("routes.card.gone");
  }

  /** Draw the chosen members and the providers that can still be added; `focus` puts the focus back. */
  _renderMembers(focus = null) {
    const count = this._members.length;
    replaceChildren(
      this._memberList,
      this._members.map((id, index) => this._memberRow(id, index, count)),
    );
    this._memberList.hidden = count === 0;
    this._memberEmpty.hidden = count > 0;
    const rest = this._providers.filter((p) => !this._members.includes(p.id));
    const note =
      this._providers.length === 0
        ? t("routes.form.noProviders")
        : rest.length === 0
          ? t("routes.form.allAdded")
          : null;
    replaceChildren(
      this._addRow,
      note
        ? h("p", { class: "muted member-add-note" }, note)
        : [
            h("span", { class: "member-add-label" }, t("routes.form.addLabel")),
            rest.map((p) =>
              h(
                "button",
                {
                  type: "button",
                  class: "btn btn-sm member-add-btn",
                  title: t("routes.form.addHelp", { name: p.displayName }),
                  "aria-label": t("routes.form.addHelp", { name: p.displayName }),
                  dataset: { providerId: p.id },
                  on: { click: () => this._addMember(p.id) },
                },
                icon("plus", { size: 14 }),
                p.displayName,
              ),
            ),
          ],
    );
    if (focus) {
      const row = [...this._memberList.children].find((li) => li.dataset.providerId === focus.id);
      const target =
        row &&
        (row.querySelector(`[data-move="${focus.control}"]:not(:disabled)`) ||
          row.querySelector("[data-move]:not(:disabled)"));
      if (target) target.focus();
      else if (focus.control === "add") (this._addRow.querySelector("button") || this._saveBtn).focus();
    }
  }

  _memberRow(id, index, count) {
    const name = this._nameOf(id);
    const provider = this._provider(id);
    const move = (kind, iconName, label, disabled, to) =>
      h(
        "button",
        {
          type: "button",
          class: "icon-btn",
          title: label,
          "aria-label": label,
          disabled,
          dataset: { move: kind },
          on: { click: () => this._move(id, to, kind) },
        },
        icon(iconName, { size: 16 }),
      );
    const row = h(
      "li",
      { class: "member-row", draggable: true, dataset: { providerId: id } },
      h(
        "span",
        { class: "drag-handle", title: t("routes.form.drag"), "aria-hidden": "true" },
        icon("grip", { size: 18 }),
      ),
      h("span", { class: "member-pos", "aria-hidden": "true" }, String(index + 1)),
      h(
        "span",
        { class: "member-ident" },
        h("span", { class: "member-name" }, name),
        provider ? h("span", { class: "member-model mono" }, provider.model) : null,
      ),
      h(
        "span",
        { class: "member-tools" },
        move("up", "arrow-up", t("routes.form.up", { name }), index === 0, index - 1),
        move("down", "arrow-down", t("routes.form.down", { name }), index === count - 1, index + 1),
        h(
          "button",
          {
            type: "button",
            class: "icon-btn danger",
            title: t("routes.form.remove", { name }),
            "aria-label": t("routes.form.remove", { name }),
            dataset: { move: "remove" },
            on: { click: () => this._removeMember(id) },
          },
          icon("x", { size: 16 }),
        ),
      ),
    );
    row.addEventListener("dragstart", (event) => {
      this._dragging = id;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", id);
      row.classList.add("is-dragging");
    });
    row.addEventListener("dragend", () => {
      this._dragging = null;
      row.classList.remove("is-dragging");
      this._clearDropMarks();
    });
    return row;
  }

  _move(id, to, control) {
    const from = this._members.indexOf(id);
    if (from < 0 || to < 0 || to >= this._members.length || from === to) return;
    this._members.splice(from, 1);
    this._members.splice(to, 0, id);
    this._membersChanged();
    this._renderMembers(control ? { id, control } : null);
    this._announcer.textContent = t("routes.form.moved", {
      name: this._nameOf(id),
      position: to + 1,
      total: this._members.length,
    });
  }

  _addMember(id) {
    if (this._members.includes(id)) return;
    this._members.push(id);
    this._membersChanged();
    this._renderMembers({ id: null, control: "add" });
    this._announcer.textContent = t("routes.form.added", { name: this._nameOf(id), position: this._members.length });
  }

  _removeMember(id) {
    const at = this._members.indexOf(id);
    if (at < 0) return;
    this._members.splice(at, 1);
    this._membersChanged();
    const next = this._members[Math.min(at, this._members.length - 1)];
    this._renderMembers(next ? { id: next, control: "remove" } : { id: null, control: "add" });
    this._announcer.textContent = t("routes.form.removed", { name: this._nameOf(id) });
  }

  _membersChanged() {
    this._fieldEdited("members");
  }

  // A field the user changed loses its message; the summary goes once no field has one left.
  _fieldEdited(key) {
    this._setMessage(key, "");
    const flagged = Object.values(this._f).some((f) => f.wrap.classList.contains("has-server-error"));
    if (!flagged && !this._unplaced) this._setFormError("");
  }

  // Where a dragged row would land: before the row under the pointer when over its top half,
  // after it when over the bottom half (and at the end below the last row).
  _dropTarget(event) {
    const rows = [...this._memberList.children];
    for (const [index, row] of rows.entries()) {
      const box = row.getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) return { index, row, before: true };
    }
    const last = rows[rows.length - 1];
    return last ? { index: rows.length, row: last, before: false } : null;
  }

  _onDragOver(event) {
    if (!this._dragging) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    const target = this._dropTarget(event);
    this._clearDropMarks();
    if (target) target.row.classList.add(target.before ? "drop-before" : "drop-after");
  }

  _onDrop(event) {
    const id = this._dragging;
    if (!id) return;
    event.preventDefault();
    const target = this._dropTarget(event);
    this._clearDropMarks();
    this._dragging = null;
    if (!target) return;
    const from = this._members.indexOf(id);
    // The index counts the dragged row itself: landing after it means one less once it is out.
    const to = target.index > from ? target.index - 1 : target.index;
    this._move(id, to, null);
  }

  _clearDropMarks() {
    for (const row of this._memberList.children) row.classList.remove("drop-before", "drop-after");
  }

  // --- saving ---------------------------------------------------------------------------

  _collect() {
    return {
      name: this._f.name.input.value.trim(),
      displayName: this._f.displayName.input.value,
      strategy: this._strategy(),
      members: [...this._members],
    };
  }

  // Adding sends everything; editing sends what changed (fields left out stay as they are, so a
  // route whose providers were all removed can still be renamed).
  _payload() {
    const fields = this._collect();
    if (this._mode === "add") return fields;
    const changed = {};
    for (const key of ["name", "displayName", "strategy"])
      if (fields[key] !== this._original[key]) changed[key] = fields[key];
    if (fields.members.join("\n") !== this._original.members.join("\n")) changed.members = fields.members;
    return changed;
  }

  async _save() {
    const generation = this._generation;
    const payload = this._payload();
    this._setBusy(true);
    const result =
      this._mode === "add"
        ? await this.service.addRoute(payload)
        : await this.service.updateRoute(this._original.id, payload);
    if (generation !== this._generation) return;
    this._setBusy(false);
    if (result.success) {
      const created = this._mode === "add";
      this._dialog.close();
      this.dispatchEvent(new CustomEvent("route-saved", { bubbles: true, detail: { route: result.route, created } }));
      return;
    }
    const error = result.error;
    if (error.code === "INVALID_CONFIG" || error.code === "DUPLICATE_NAME") {
      this._showServerErrors(error);
      return;
    }
    const { advice } = adviceFor(error);
    this._setFormError(error.message, advice ? [advice] : []);
    this._formError.scrollIntoView({ block: "nearest" });
    if (error.code === "NOT_FOUND")
      this.dispatchEvent(
        new CustomEvent("route-missing", { bubbles: true, detail: { id: this._original && this._original.id } }),
      );
  }

  /** Each of the server's field messages next to its field; the rest in the summary at the top. */
  _showServerErrors(error) {
    const byField = new Map();
    const unplaced = [];
    for (const [key, messages] of Object.entries(error.fields || {})) {
      const field = FIELD_OF(key);
      const text = (messages || []).join(" ");
      if (!this._f[field]) {
        unplaced.push(key === "_schema" ? text : `${key}: ${text}`);
        continue;
      }
      byField.set(field, [...(byField.get(field) || []), text]);
    }
    const order = ["displayName", "name", "strategy", "members"].filter((k) => byField.has(k));
    for (const key of order) this._setMessage(key, byField.get(key).join(" "), "server");
    const names = order.map((key) => t(LABELS[key])).join(t("routes.listSeparator"));
    this._unplaced = unplaced.length;
    const count = order.length + unplaced.length;
    const summary = names ? t("routes.form.fieldsNeedNamed", { count, names }) : t("routes.form.fieldsNeed", { count });
    this._setFormError(count ? summary : error.message, unplaced);
    this._formError.scrollIntoView({ block: "nearest" });
    const first = order[0];
    if (!first) return;
    const target =
      first === "strategy"
        ? this._strategyInputs.find((r) => r.checked)
        : first === "members"
          ? this._memberList.querySelector("button") || this._addRow.querySelector("button")
          : this._f[first].input;
    if (target) {
      target.focus({ preventScroll: true });
      this._f[first].wrap.scrollIntoView({ block: "nearest" });
    }
  }

  _setMessage(key, message, kind = "error") {
    const field = this._f[key];
    if (!field) return;
    field.msg.textContent = message || "";
    if (key === "name" || key === "displayName") field.input.setAttribute("aria-invalid", String(Boolean(message)));
    field.wrap.classList.toggle("has-error", Boolean(message));
    field.wrap.classList.toggle("has-server-error", Boolean(message) && kind === "server");
  }

  _setFormError(message, extra = []) {
    showFormError(this._formError, message, extra);
  }

  _setBusy(busy) {
    this._form.toggleAttribute("aria-busy", busy);
    this._saveBtn.disabled = busy;
    this._saveBtn.classList.toggle("is-busy", busy);
    this._saveBtn.firstElementChild.textContent = busy
      ? t("routes.form.saving")
      : this._mode === "edit"
        ? t("routes.form.saveChanges")
        : t("routes.form.save");
  }
}

customElements.define("route-form", RouteForm);
