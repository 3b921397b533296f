// What the thread of <chat-view> shows while it has no messages: the welcome with starter
// prompts, "add a provider", a conversation that no longer exists, and a load that failed.
// Plain builders: each returns the element the message list shows as its intro.
import { h } from "../lib/dom.js";
import { icon } from "../lib/icons.js";

const STARTERS = [
  "Explain how HTTPS keeps a connection private, in five sentences.",
  "Write a Python function that removes duplicates from a list and keeps the order.",
  "What are the trade-offs of SQLite for a desktop app?",
];
const TEXT = {
  addFirst: "Add a provider to start chatting",
  noProviders:
    "MiaoDa Chat talks to OpenAI, Anthropic, Groq, a local Ollama or any compatible endpoint. Add one, and come back here.",
  addProvider: "Add a provider",
  welcome: (name) => `Chat with ${name}`,
  welcomeText:
    "Replies stream as they are written; stop one with Esc. Conversations are saved on this computer and listed on the left.",
  missing: "This conversation no longer exists",
  missingText: "It may have been deleted, here or in another window. Nothing else is affected.",
  newConversation: "New conversation",
  tryAgain: "Try again",
};

/** No provider yet: what the app talks to, and the way to add one. */
export function noProvidersIntro() {
  return h(
    "div",
    { class: "chat-empty" },
    h("span", { class: "placeholder-icon" }, icon("chat", { size: 36 })),
    h("h2", {}, TEXT.addFirst),
    h("p", { class: "muted" }, TEXT.noProviders),
    h(
      "a",
      { class: "btn btn-primary btn-lg chat-add-provider", href: "#/providers?add" },
      icon("plus", { size: 18 }),
      TEXT.addProvider,
    ),
  );
}

/** An empty conversation with `provider`; a starter prompt clicked goes to `useStarter(text)`. */
export function welcomeIntro(provider, useStarter) {
  return h(
    "div",
    { class: "chat-welcome" },
    h("img", { src: "img/logo.svg", alt: "", width: 56, height: 56, class: "chat-welcome-logo" }),
    h("h2", {}, TEXT.welcome(provider.displayName)),
    h("p", { class: "muted" }, TEXT.welcomeText),
    h(
      "div",
      { class: "chat-starters" },
      STARTERS.map((text) =>
        h("button", { type: "button", class: "chat-starter", on: { click: () => useStarter(text) } }, text),
      ),
    ),
  );
}

/** The conversation asked for is not stored (any more). */
export function missingIntro() {
  return h(
    "div",
    { class: "chat-empty chat-missing" },
    h("span", { class: "placeholder-icon" }, icon("chat", { size: 36 })),
    h("h2", {}, TEXT.missing),
    h("p", { class: "muted" }, TEXT.missingText),
    h("a", { class: "btn btn-primary", href: "#/chat/new" }, icon("new-chat", { size: 16 }), TEXT.newConversation),
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
    h("button", { type: "button", class: "btn", on: { click: again } }, TEXT.tryAgain),
  );
}
