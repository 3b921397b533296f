// What the form sends: the whole config when adding; only what changed when editing, because
// the backend merges updates into the saved provider. Read-only fields are never sent.
import { defaultAuth, normalizeBase, sameAuth } from "./provider-rules.js";

/**
 * `fields`: {name, displayName, type, baseURL, model, headers, parameters, endpoints};
 * `auth`: null for "the type's default", else {scheme, name?}; `apiKey`: what was typed.
 */
export function addPayload(fields, { auth, apiKey }) {
  const config = { ...fields };
  if (auth) config.auth = auth;
  if (apiKey) config.apiKey = apiKey;
  return config;
}

/** The changes from `original` (a saved provider); `removeKey` sends apiKey "" to delete it. */
export function updatePayload(original, fields, { auth, apiKey, removeKey }) {
  const updates = {};
  for (const name of ["name", "displayName", "type", "model"]) if (fields[name] !== original[name]) updates[name] = fields[name];
  if (normalizeBase(fields.baseURL) !== original.baseURL) updates.baseURL = fields.baseURL;
  for (const name of ["headers", "parameters", "endpoints"]) if (!sameObject(fields[name], original[name])) updates[name] = fields[name];
  // "Default" means the new type's default; send it when that differs from what is saved.
  const wanted = auth || defaultAuth(fields.type);
  if (!sameAuth(wanted, original.auth)) updates.auth = wanted;
  if (removeKey) updates.apiKey = "";
  else if (apiKey) updates.apiKey = apiKey;
  return updates;
}

function sameObject(a, b) {
  const norm = (o) => JSON.stringify(Object.entries(o || {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return norm(a) === norm(b);
}
