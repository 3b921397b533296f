// Pieces the Settings screen's sections share: a group of radio choices, a section's status line
// ("Saved" or what went wrong) and the errors the backend names by field.
import { h, replaceChildren } from "../lib/dom.js";
import { icon } from "../lib/icons.js";
import { t } from "../lib/i18n.js";

/**
 * A <fieldset> of radio buttons: options [{value, label, hint?, lang?}]; `onPick(value)` after
 * the user picks one. Each radio has `data-focus-key="<name>-<value>"`.
 */
export function choiceGroup({ name, legend, value, options, hint = "", onPick }) {
  const group = h(
    "fieldset",
    { class: "choice-group", dataset: { choice: name } },
    h("legend", { class: "field-label" }, legend),
    h(
      "div",
      { class: "choice-row" },
      options.map((option) =>
        h(
          "label",
          { class: "choice", lang: option.lang },
          h("input", {
            type: "radio",
            class: "choice-input",
            name,
            value: option.value,
            checked: option.value === value,
            dataset: { focusKey: `${name}-${option.value}` },
          }),
          h(
            "span",
            { class: "choice-text" },
            h("span", { class: "choice-label" }, option.label),
            option.hint ? h("span", { class: "choice-hint" }, option.hint) : null,
          ),
        ),
      ),
    ),
    hint ? h("p", { class: "field-help" }, hint) : null,
  );
  group.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type === "radio") onPick(event.target.value);
  });
  return group;
}

/** Check the radio of `value` in a choiceGroup (e.g. back to the saved value after a failure). */
export function setChoice(group, value) {
  for (const radio of group.querySelectorAll("input[type=radio]")) radio.checked = radio.value === value;
}

/** The value of the checked radio of a choiceGroup. */
export function choiceOf(group) {
  return group.querySelector("input[type=radio]:checked")?.value ?? null;
}

/**
 * A section's status line (polite): busy(), saved(), failed(error, more = []), invalid(rest),
 * clear(). `invalid(rest)` is for an INVALID_CONFIG whose fields are marked: it points at them,
 * and says the messages no field could show (`rest`).
 */
export function sectionStatus() {
  const element = h("p", { class: "settings-status", role: "status", "aria-live": "polite" });
  const say = (state, ...content) => {
    element.dataset.state = state;
    replaceChildren(element, ...content);
  };
  return {
    element,
    busy: () => say("busy", t("settings.saving")),
    saved: () => say("saved", icon("check", { size: 15 }), t("settings.saved")),
    failed: (error, more = []) =>
      say("error", icon("alert", { size: 15 }), [error?.message, ...more].filter(Boolean).join(" ")),
    invalid: (rest = []) => say("error", icon("alert", { size: 15 }), [t("settings.checkFields"), ...rest].join(" ")),
    clear: () => say("", ""),
  };
}

/**
 * Errors at their fields. `controls` maps a dotted path (`health.intervalSeconds`) to
 * [field wrapper, control, message element]. `show(fields)` marks those it knows and returns
 * the messages of the others; `clear()` takes every mark away.
 */
export function fieldErrors(controls) {
  const clear = () => {
    for (const [field, control, message] of Object.values(controls)) {
      field.classList.remove("has-error");
      control.removeAttribute("aria-invalid");
      message.textContent = "";
    }
  };
  const show = (fields) => {
    const rest = [];
    for (const [path, value] of Object.entries(fields)) {
      const text = [value].flat().join(" ");
      const known = controls[path];
      if (!known) {
        rest.push(text);
        continue;
      }
      const [field, control, message] = known;
      field.classList.add("has-error");
      control.setAttribute("aria-invalid", "true");
      message.textContent = text;
    }
    return rest;
  };
  return { show, clear };
}
