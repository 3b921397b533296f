// RouteService: the route operations the views use (docs/API.md, Routes). Thin over bridge.js:
// every method resolves to the envelope; it never rejects.
import { call } from "../bridge.js";

export class RouteService {
  /** `caller(method, ...args)` defaults to the real bridge; tests may pass another. */
  constructor(caller = call) {
    this._call = caller;
  }

  /** `{name, displayName, strategy, members}` → `{id, route}`. */
  addRoute(config) {
    return this._call("addRoute", config);
  }

  /** Partial `updates` (fields left out stay) → `{route}`. */
  updateRoute(id, updates) {
    return this._call("updateRoute", id, updates);
  }

  removeRoute(id) {
    return this._call("removeRoute", id);
  }

  /** `{routes}`, each with `circuits`: member id → `{state, since, reason}`. */
  getRoutes() {
    return this._call("getAllRoutes");
  }
}

/** The instance the app uses. */
export const routeService = new RouteService();
