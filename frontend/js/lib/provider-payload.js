// What the form sends: the whole config when adding; only what changed when editing, because
// the backend merges updates into the saved provider. Read-only fields are never sent.
import { defaultAuth, normalizeBase, sameAuth } from "./provider-rules.js";

// A provider without `checkKind` is checked with its model list (API.md, Health status).
const DEFAULT_CHECK = "models";

/**
 * `fields`: {name, displayName, type, baseURL, model, headers, parameters, endpoints, checkKind};
 * `auth`: null for "the type's default", else {scheme, name?}; `keys`: the keys typed, in order
 * (`apiKey` for one, `apiKeys` for several — CONTRACT §10).
 */
export function addPayload(fields, { auth, keys = [] }) {
  const { checkKind, ...config } = fields;
  // The default goes unsaid: absent means the model list.
  if (checkKind && checkKind !== DEFAULT_CHECK) config.checkKind = checkKind;
  if (auth) config.auth = auth;
  Object.assign(config, keysPayload(keys));
  return config;
}

/**
 * The changes from `original` (a saved provider). Typed keys replace the saved ones;
 * `removeKey` sends apiKey "" to delete them.
 */
export function updatePayload(original, fields, { auth, keys = [], removeKey }) {
  const updates = {};
  for (const name of ["name", "displayName", "type", "model"])
    if (fields[name] !== original[name]) updates[name] = fields[name];
  if (normalizeBase(fields.baseURL) !== original.baseURL) updates.baseURL = fields.baseURL;
  for (const name of ["headers", "parameters", "endpoints"])
    if (!sameObject(fields[name], original[name])) updates[name] = fields[name];
  // "Default" means the new type's default; send it when that differs from what is saved.
  const wanted = auth || defaultAuth(fields.type);
  if (!sameAuth(wanted, original.auth)) updates.auth = wanted;
  if (fields.checkKind && fields.checkKind !== (original.checkKind || DEFAULT_CHECK))
    updates.checkKind = fields.checkKind;
  if (removeKey) updates.apiKey = "";
  else Object.assign(updates, keysPayload(keys));
  return updates;
}

function keysPayload(keys) {
  const typed = keys.filter(Boolean);
  if (typed.length > 1) return { apiKeys: typed };
  return typed.length ? { apiKey: typed[0] } : {};
}

function sameObject(a, b) {
  const norm = (o) => JSON.stringify(Object.entries(o || {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return norm(a) === norm(b);
}
