// The box at the top of a form that says why it was not saved: a message, and under it the
// points that could not be shown beside a field (the provider, route and tool server forms).
import { h, replaceChildren } from "./dom.js";
import { icon } from "./icons.js";

/** An empty, hidden box; screen readers announce what `showFormError` puts in it. */
export function formErrorBox() {
  return h("div", { class: "form-error", role: "alert", hidden: true });
}

/** Show `message` (and the `extra` points as a list) in `box`; an empty message hides it. */
export function showFormError(box, message, extra = []) {
  box.hidden = !message;
  replaceChildren(
    box,
    message
      ? [
          icon("alert", { size: 16 }),
          h(
            "div",
            {},
            h("p", {}, message),
            extra.length
              ? h(
                  "ul",
                  {},
                  extra.map((m) => h("li", {}, m)),
                )
              : null,
          ),
        ]
      : [],
  );
}
