// McpService: the tool-server operations the views use (docs/API.md, "Tools (MCP)"), and the
// answer to a tool call waiting for the user's approval in a chat. Thin over bridge.js: every
// method resolves to the envelope; it never rejects.
//
// It also keeps the servers as last read (`servers`), so the chat's approval cards can name a
// server and its "Tools" menu can list them without reading them again; `mcpEvents` fires
// "changed" when a view read or changed them.
import { call } from "../bridge.js";

/** Fires "changed" ({detail: {servers}}) after the servers were read or changed. */
export const mcpEvents = new EventTarget();

export class McpService {
  /** `caller(method, ...args)` defaults to the real bridge; tests may pass another. */
  constructor(caller = call) {
    this._call = caller;
    /** The servers as last read (getAllMcpServers), or null before the first read. */
    this.servers = null;
  }

  /** `{servers}`: each with its status, error and tools. */
  async getServers() {
    const result = await this._call("getAllMcpServers");
    if (result.success) this._keep(result.servers);
    return result;
  }

  /**
   * `{name, displayName, transport, command?, args?, env?, url?, headers?, enabled?,
   * timeoutSeconds?}` → `{id, server}`.
   */
  async addServer(config) {
    return this._changed(await this._call("addMcpServer", config));
  }

  /** Partial `updates` (fields left out stay; an env or header value `null` keeps the saved one) → `{server}`. */
  async updateServer(id, updates) {
    return this._changed(await this._call("updateMcpServer", id, updates));
  }

  async removeServer(id) {
    const result = await this._call("removeMcpServer", id);
    if (result.success && this.servers) this._keep(this.servers.filter((s) => s.id !== id));
    return result;
  }

  /** Stop and start a server again (after a failure, or to read its tools anew). */
  async restartServer(id) {
    return this._changed(await this._call("restartMcpServer", id));
  }

  /** `{enabled?, approval?: "ask" | "always"}` for one tool of a server. */
  async setToolPolicy(serverId, toolName, policy) {
    return this._changed(await this._call("setMcpToolPolicy", serverId, toolName, policy));
  }

  /** The desktop's folder picker → `{path}` (CANCELLED when closed; fails in a browser). */
  chooseFolder() {
    return this._call("chooseFolder");
  }

  /** Answer the approval a chat's `tool_approval` event asks for: "allow" or "deny". */
  answerApproval(requestId, callId, decision) {
    return this._call("answerToolApproval", requestId, callId, decision);
  }

  /** The server `id` as last read, or null. */
  server(id) {
    return (this.servers || []).find((s) => s.id === id) || null;
  }

  // An answer that carries a server replaces it in the list kept.
  _changed(result) {
    if (result.success && result.server && this.servers) {
      const at = this.servers.findIndex((s) => s.id === result.server.id);
      const next = [...this.servers];
      if (at >= 0) next[at] = result.server;
      else next.push(result.server);
      this._keep(next);
    }
    return result;
  }

  _keep(servers) {
    this.servers = servers;
    mcpEvents.dispatchEvent(new CustomEvent("changed", { detail: { servers } }));
  }
}

/** The instance the app uses. */
export const mcpService = new McpService();
