// What the thread of <chat-view> shows while it has no messages: the welcome with starter
// prompts, "add a provider", a conversation that no longer exists, and a load that failed.
// Plain builders: each returns the element the message list shows as its intro.
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { icon } from "../lib/icons.js";

// Starter prompts, written for each language (a starter is sent as the user's own words).
const STARTERS = ["chat.intro.starters.https", "chat.intro.starters.unique", "chat.intro.starters.sqlite"];

/** No provider yet: what the app talks to, and the way to add one. */
export function noProvidersIntro() {
  return h(
    "div",
    { class: "chat-empty" },
    h("span", { class: "placeholder-icon" }, icon("chat", { size: 36 })),
    h("h2", {}, t("chat.intro.addFirst")),
    h("p", { class: "muted" }, t("chat.intro.noProviders")),
    h(
      "a",
      { class: "btn btn-primary btn-lg chat-add-provider", href: "#/providers?add" },
      icon("plus", { size: 18 }),
      t("chat.intro.addProvider"),
    ),
  );
}

/** An empty conversation with `provider`; a starter prompt clicked goes to `useStarter(text)`. */
export function welcomeIntro(provider, useStarter) {
  return h(
    "div",
    { class: "chat-welcome" },
    h("img", { src: "img/logo.svg", alt: "", width: 56, height: 56, class: "chat-welcome-logo" }),
    h("h2", {}, t("chat.intro.welcome", { name: provider.displayName })),
    h("p", { class: "muted" }, t("chat.intro.welcomeText")),
    h(
      "div",
      { class: "chat-starters" },
      STARTERS.map((key) => {
        const text = t(key);
        return h("button", { type: "button", class: "chat-starter", on: { click: () => useStarter(text) } }, text);
      }),
    ),
  );
}

/** The conversation asked for is not stored (any more). */
export function missingIntro() {
  return h(
    "div",
    { class: "chat-empty chat-missing" },
    h("span", { class: "placeholder-icon" }, icon("chat", { size: 36 })),
    h("h2", {}, t("chat.intro.missing")),
    h("p", { class: "muted" }, t("chat.intro.missingText")),
    h("a", { class: "btn btn-primary", href: "#/chat/new" }, icon("new-chat", { size: 16 }), t("chat.view.newTitle")),
  );
}

/** `title` failed with `error`; "Try again" calls `again()`. */
export function failureIntro(title, error, again) {
  return h(
    "div",
    { class: "chat-empty" },
    icon("alert", { size: 28 }),
    h("h2", {}, title),
    h("p", { class: "muted" }, error ? error.message : ""),
    h("button", { type: "button", class: "btn", on: { click: again } }, t("common.retry")),
  );
}
