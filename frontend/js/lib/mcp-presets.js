// The tool servers the add form offers ready-made (docs/UI.md, "Tools (MCP)"), and the small
// rules the tools screen shares: a server's status in words and colours, its command line, a
// name suggested from a display name. The words come from the translation layer.
import { t } from "./i18n.js";
import { uniqueName } from "./provider-rules.js";

/**
 * Presets: `folder` ones end their args with a folder the user picks. Names and commands are
 * what the servers' own docs say; `nameKey`/`helpKey` are the tile's words.
 */
export const PRESETS = [
  {
    id: "filesystem",
    name: "filesystem",
    nameKey: "mcp.preset.filesystem.name",
    helpKey: "mcp.preset.filesystem.help",
    transport: "stdio",
    command: "npx",
    args: ["-y", "@modelcontextprotocol/server-filesystem"],
    folder: true,
  },
  {
    id: "fetch",
    name: "fetch",
    nameKey: "mcp.preset.fetch.name",
    helpKey: "mcp.preset.fetch.help",
    transport: "stdio",
    command: "uvx",
    args: ["mcp-server-fetch"],
  },
  {
    id: "time",
    name: "time",
    nameKey: "mcp.preset.time.name",
    helpKey: "mcp.preset.time.help",
    transport: "stdio",
    command: "uvx",
    args: ["mcp-server-time"],
  },
  {
    id: "everything",
    name: "everything",
    nameKey: "mcp.preset.everything.name",
    helpKey: "mcp.preset.everything.help",
    transport: "stdio",
    command: "npx",
    args: ["-y", "@modelcontextprotocol/server-everything"],
  },
];

/** The preset `id`, or null. */
export function preset(id) {
  return PRESETS.find((p) => p.id === id) || null;
}

const STATUS_KEYS = {
  connected: "mcp.status.connected",
  starting: "mcp.status.starting",
  failed: "mcp.status.failed",
  disabled: "mcp.status.disabled",
};
const STATUS_ICONS = { connected: "check", starting: "pulse", failed: "alert", disabled: "x" };

/** A server status in a word, and the icon beside it. */
export function describeStatus(status) {
  const known = STATUS_KEYS[status] ? status : "failed";
  return { label: t(STATUS_KEYS[known]), icon: STATUS_ICONS[known], status: known };
}

/** The command line of a stdio server as the user would type it (args with spaces quoted). */
export function commandLine(server) {
  const quote = (part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `"${part.replace(/(["\\$`])/g, "\\$1")}"`);
  return [server.command || "", ...(server.args || [])]
    .filter((p) => p !== "")
    .map(quote)
    .join(" ");
}

/** Where a server is reached: its command line (stdio) or its URL (HTTP). */
export function serverTarget(server) {
  return server.transport === "http" ? server.url || "" : commandLine(server);
}

/** A name for `displayName` in the servers' name rule (letters, digits, `.`, `_`, `-`), unique in `taken`. */
export function suggestServerName(displayName, taken = new Set()) {
  const base = String(displayName || "")
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, 64);
  return uniqueName(base || "server", taken);
}

/** Args from the form's text: one per line, blank lines dropped (spaces inside a line kept). */
export function argsFromText(text) {
  return String(text || "")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
}
