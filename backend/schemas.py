"""Input validation for everything users and files send in (the only marshmallow user).

Each loader returns plain dicts or models and raises `InvalidConfig` with `fields` mapping the
contract's camelCase field names (nested ones joined with dots, e.g. `parameters.topP`) to
messages. No message ever repeats the value it rejects, so a key pasted into the wrong field
cannot leak through an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from backend.errors import InvalidConfig
from backend.models import (
    AUTH_SCHEMES,
    CHECK_KINDS,
    MAX_KEYS,
    PROVIDER_TYPES,
    AuthConfig,
    ChatMessage,
    ChatRequest,
    ConversationTurn,
    ProviderType,
    ToolCall,
    ToolSpec,
    default_auth,
    is_secret_header,
)

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI): they reorder
# the text around them, so a name could read as something else. The marks LRM, RLM and ALM
# reorder nothing and are allowed.
BIDI_CONTROL_RE = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
# In an endpoint's path part: a `..` segment (also `..;`, which some servers read as `..`),
# `//`, a backslash, or `.`, `/` or `\` percent-encoded. Each could take the request out of
# the base URL's path: httpx removes `..` segments, and servers may decode %2e / %2f / %5c or
# read `\` as `/`.
ENDPOINT_ESCAPE_RE = re.compile(r"(?:^|/)\.\.(?:[/;]|$)|//|\\|%2e|%2f|%5c", re.IGNORECASE)
FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
READ_ONLY = (
    "id",
    "requestURL",
    "hasApiKey",
    "apiKeyHint",
    "secretHeaders",
    "keys",
    "createdAt",
    "updatedAt",
)
MAX_HEADERS = 32


class StrictNumber(fields.Field[float]):
    """A JSON number in a closed range; refuses strings, booleans, NaN and infinities."""

    def __init__(self, low: float, high: float, *, integer: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high, self.integer = low, high, integer

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        kind = "a whole number" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"Must be {kind} from {_num(self.low)} to {_num(self.high)}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError("Must be a finite number.")
        if self.integer and not isinstance(value, int):
            raise ValidationError(
                f"Must be a whole number from {_num(self.low)} to {_num(self.high)}."
            )
        if not self.low <= value <= self.high:
            raise ValidationError(f"Must be from {_num(self.low)} to {_num(self.high)}.")
        return value


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else str(value)


class ParametersSchema(Schema):
    class Meta:
        unknown = RAISE

    temperature = StrictNumber(0, 2)
    maxTokens = StrictNumber(1, 1_000_000, integer=True)
    topP = StrictNumber(0, 1)
    frequencyPenalty = StrictNumber(-2, 2)
    presencePenalty = StrictNumber(-2, 2)


class AuthSchema(Schema):
    class Meta:
        unknown = RAISE

    scheme = fields.String(required=True, validate=validate.OneOf(AUTH_SCHEMES))
    name = fields.String(validate=validate.Length(1, 100))

    @validates_schema
    def _name_fits_scheme(self, data: dict[str, Any], **kwargs: Any) -> None:
        scheme, name = data.get("scheme"), data.get("name")
        if scheme in ("header", "query") and not name:
            where = "header" if scheme == "header" else "query parameter"
            raise ValidationError(f"Give the {where} name the key is sent in.", "name")
        if scheme in ("bearer", "none") and name is not None:
            raise ValidationError("Only the header and query schemes take a name.", "name")
        if scheme == "header" and name and not TOKEN_RE.fullmatch(name):
            raise ValidationError(
                "Not a valid header name (letters, digits and - _ . only).", "name"
            )
        if scheme == "query" and name and not re.fullmatch(r"[A-Za-z0-9._~-]+", name):
            raise ValidationError("Not a valid query parameter name.", "name")


class EndpointsSchema(Schema):
    class Meta:
        unknown = RAISE

    chat = fields.String()
    models = fields.String()

    @validates_schema
    def _paths(self, data: dict[str, Any], **kwargs: Any) -> None:
        for key, path in data.items():
            problem = _endpoint_problem(path)
            if problem:
                raise ValidationError(problem, key)


def _endpoint_problem(path: str) -> str | None:
    if not path.startswith("/") or path.startswith("//"):
        return (
            "Must be a path starting with a single /, "
            "e.g. /chat/completions?api-version=2024-10-21."
        )
    if len(path) > 1024:
        return "Must be at most 1,024 characters."
    if CONTROL_RE.search(path) or " " in path or "#" in path:
        return "Must not contain spaces, control characters or a # fragment."
    if ENDPOINT_ESCAPE_RE.search(path.partition("?")[0]):
        return (
            "Must stay under the base URL: no .. segments, //, backslashes or encoded "
            "dots and slashes (%2E, %2F, %5C) before the ?query."
        )
    return None


class ProviderSchema(Schema):
    """A whole provider as users and import files give it (docs/API.md, "Providers")."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True)
    displayName = fields.String(required=True)
    baseURL = fields.String(required=True)
    model = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(PROVIDER_TYPES))
    # null is only for a credential header: keep its stored value (or, new, leave it unset).
    headers = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))
    parameters = fields.Nested(ParametersSchema)
    auth = fields.Nested(AuthSchema)
    endpoints = fields.Nested(EndpointsSchema)
    checkKind = fields.String(
        validate=validate.OneOf(
            CHECK_KINDS,
            error='Must be "models" (list the models; free) or "chat" (a one-token chat).',
        )
    )
    apiKey = fields.String()
    # Checked by `_api_keys_problems`, so each key's problem is named by its place in the list.
    apiKeys = fields.Raw()

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if "apiKeys" in data:
            errors.update(_api_keys_problems(data["apiKeys"], "apiKey" in data))
        checks = (
            ("name", _name_problem),
            ("displayName", _display_name_problem),
            ("baseURL", _base_url_problem),
            ("model", _model_problem),
            ("headers", _headers_problem),
            ("apiKey", _api_key_problem),
        )
        for key, check in checks:
            if key in data:
                problem = check(data[key])
                if problem:
                    errors[key] = [problem]
        if errors:
            raise ValidationError(errors)


def _name_problem(name: str) -> str | None:
    if NAME_RE.fullmatch(name):  # ASCII only, so bidi controls cannot get in
        return None
    return (
        "Use 1-64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit "
        "(e.g. groq-fast)."
    )


def _display_name_problem(value: str) -> str | None:
    if not value.strip():
        return "Give a display name (1-80 characters)."
    if len(value) > 80:
        return "Must be at most 80 characters."
    if CONTROL_RE.search(value):
        return "Must not contain control characters such as line breaks."
    if BIDI_CONTROL_RE.search(value):
        return "Must not contain text-direction controls (U+202A-U+202E, U+2066-U+2069)."
    return None


def _base_url_problem(url: str) -> str | None:
    if len(url) > 2048:
        return "Must be at most 2,048 characters."
    if CONTROL_RE.search(url) or any(c.isspace() for c in url):
        return "Must not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "Not a valid URL. Use the form https://api.example.com/v1."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Must be an absolute http:// or https:// URL with a host, e.g. https://api.example.com/v1."
    if parts.username is not None or parts.password is not None:
        return "Must not contain a user name or password; put the key in the API key field."
    if parts.fragment or url.endswith("#"):
        return "Must not contain a # fragment."
    if parts.query or url.endswith("?"):
        return "Must not contain a ?query; put query parameters in the chat and models endpoints."
    return None


def _model_problem(value: str) -> str | None:
    if not 1 <= len(value) <= 200:
        return "Give a model name of 1-200 characters."
    if CONTROL_RE.search(value):
        return "Must not contain control characters."
    return None


def _headers_problem(headers: Mapping[str, str | None]) -> str | None:
    if len(headers) > MAX_HEADERS:
        return f"At most {MAX_HEADERS} headers."
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if not TOKEN_RE.fullmatch(name):
            return "Header names may use only letters, digits and !#$%&'*+-.^_`|~."
        if lower in FORBIDDEN_HEADERS:
            return f"The {name} header is set by MiaoDa Chat and cannot be overridden."
        if lower in seen:
            return f"The {name} header is given twice (header names ignore case)."
        if value is None and not is_secret_header(name):
            return f"Give {name} a value (only credential headers may be left without one)."
        if value is not None and any(c in value for c in "\r\n\x00"):
            return f"The value of {name} must not contain line breaks."
        seen.add(lower)
    return None


def _api_key_problem(key: str) -> str | None:
    if key == "":
        return None  # on update "" removes the stored key; on add it means "no key"
    if len(key) > 4096:
        return "Must be at most 4,096 characters."
    if not key.isprintable():
        return "Must contain only printable characters."
    if key != key.strip():
        return "Remove the spaces before or after the key."
    return None


def _api_keys_problems(keys: Any, with_api_key: bool) -> dict[str, list[str]]:
    """Field errors of an `apiKeys` list: the whole list's under `apiKeys`, a key's under
    `apiKeys.<index>` (counting from 0)."""
    if with_api_key:
        return {"apiKeys": ["Give either apiKey (one key) or apiKeys (all keys), not both."]}
    if not isinstance(keys, list):
        return {"apiKeys": ["Must be a list of keys."]}
    if len(keys) > MAX_KEYS:
        return {"apiKeys": [f"At most {MAX_KEYS} keys per provider."]}
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            problem: str | None = "Must be a key (text)."
        elif key == "":
            problem = "Enter the key, or remove this entry."
        elif key in seen:
            problem = "This key is already in the list."
        else:
            problem = _api_key_problem(key)
        if problem:
            problems[f"apiKeys.{index}"] = [problem]
        elif isinstance(key, str):
            seen.add(key)
    return problems


def load_api_keys(keys: Any) -> list[str]:
    """Validate an `apiKeys` list given on its own (an import file's keys)."""
    problems = _api_keys_problems(keys, False)
    if problems:
        first = next(iter(problems))
        raise InvalidConfig(
            f"The keys are not valid: {first} - {problems[first][0]}", fields=problems
        )
    return list(keys)


def load_key(key: Any) -> str:
    """Validate one key given on its own (`addProviderKey`)."""
    problem = (
        "Must be a key (text)."
        if not isinstance(key, str)
        else "Enter the key."
        if key == ""
        else _api_key_problem(key)
    )
    if problem is None and not _is_text(key):
        problem = _NOT_TEXT
    if problem:
        raise InvalidConfig(f"The key is not valid: {problem}", fields={"key": [problem]})
    assert isinstance(key, str)
    return key


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dicts as the contract's flat `fields` map."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, list):
        out.setdefault(prefix or "_schema", []).extend(str(m) for m in messages)
        return out
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            if key in ("key", "value") and prefix.startswith("headers"):
                name = prefix  # header-value errors are about the headers object
            for sub, msgs in _flatten(value, name).items():
                out.setdefault(sub, []).extend(msgs)
    return out


def _invalid(
    err: ValidationError, what: str, read_only: tuple[str, ...] = READ_ONLY
) -> InvalidConfig:
    fields_map = _flatten(err.messages)
    for name in read_only:
        if fields_map.get(name) == ["Unknown field."]:
            fields_map[name] = ["This field is read-only and cannot be set."]
    first = next(iter(fields_map), "")
    hint = f": {first} - {fields_map[first][0]}" if first else "."
    verb = "are" if what.endswith("s") else "is"
    return InvalidConfig(f"The {what} {verb} not valid{hint}", fields=fields_map)


def _require_object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidConfig(
            f"The {what} must be an object.", fields={"_schema": ["Must be an object."]}
        )
    return value


_NOT_TEXT = "Contains a broken character (half of an emoji or symbol); retype it."


def _is_text(*values: Any) -> bool:
    """False when a string anywhere in `values` holds an unpaired UTF-16 surrogate.

    JavaScript strings (and JSON escapes such as "\\ud83d") can carry half of a surrogate
    pair; such text cannot be stored, exported or sent as UTF-8, so it is refused up front
    with the field's name instead of failing later as a storage error.
    """
    for value in values:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(value, Mapping):
            if not _is_text(*value.keys(), *value.values()):
                return False
        elif isinstance(value, list | tuple) and not _is_text(*value):
            return False
    return True


# Shared like _CHAT_BODY_SCHEMA below: loading keeps no state on the instance.
_PROVIDER_SCHEMA = ProviderSchema()


def _text_fields_object(data: Any, what: str) -> Mapping[str, Any]:
    """`data` as an object whose text fields hold text (a field error per one that does not)."""
    raw = _require_object(data, what)
    broken = {str(name): [_NOT_TEXT] for name, value in raw.items() if not _is_text(name, value)}
    if broken:
        first = next(iter(broken))
        raise InvalidConfig(f"The {what} is not valid: {first} - {_NOT_TEXT}", fields=broken)
    return raw


def load_provider(data: Any, *, what: str = "provider") -> dict[str, Any]:
    """Validate a whole provider; return it normalised with auth, headers and defaults filled."""
    raw = _text_fields_object(data, what)
    try:
        loaded: dict[str, Any] = _PROVIDER_SCHEMA.load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, what) from None
    loaded["baseURL"] = loaded["baseURL"].rstrip("/")
    loaded.setdefault("headers", {})
    loaded.setdefault("parameters", {})
    loaded.setdefault("endpoints", {})
    loaded.setdefault("checkKind", "models")  # also for files exported before it existed
    if "auth" not in loaded:
        loaded["auth"] = default_auth(loaded["type"]).to_wire()
    return loaded


def merge_update(current: Mapping[str, Any], updates: Any) -> dict[str, Any]:
    """Apply partial `updates` to a stored provider's export form and validate the result."""
    changes = _require_object(updates, "update")
    merged = dict(current)
    if "type" in changes and "auth" not in changes:
        # A provider still on its type's default auth follows the new type's default.
        old_default = default_auth(_as_type(current.get("type"))).to_wire()
        if current.get("auth") == old_default:
            merged.pop("auth", None)
    merged.update(changes)
    return load_provider(merged, what="update")


def _as_type(value: Any) -> ProviderType:
    return value if value in PROVIDER_TYPES else "openai-compatible"


def auth_from_wire(data: Mapping[str, Any]) -> AuthConfig:
    """An AuthConfig from the validated wire object."""
    return AuthConfig(data["scheme"], data.get("name"))


# --- options ---------------------------------------------------------------------------


class SaveOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    # `validate` would hide Schema.validate, so the attribute has another name.
    validate_first = fields.Boolean(
        data_key="validate", load_default=True, truthy={True}, falsy={False}
    )


class ExportOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    includeKeys = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    passphrase = fields.String(allow_none=True, load_default=None)
    path = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 4096))


class ImportOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    path = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 4096))
    content = fields.String(allow_none=True, load_default=None)
    passphrase = fields.String(allow_none=True, load_default=None)
    onConflict = fields.String(
        load_default="skip", validate=validate.OneOf(("skip", "replace", "rename"))
    )
    dryRun = fields.Boolean(load_default=False, truthy={True}, falsy={False})


class HistoryOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    since = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 40))
    limit = fields.Integer(load_default=2000, strict=True, validate=validate.Range(1, 20000))


def load_options(schema: type[Schema], options: Any, what: str = "options") -> dict[str, Any]:
    """Validate an options object (None means all defaults)."""
    raw = {} if options is None else _require_object(options, what)
    try:
        loaded: dict[str, Any] = schema().load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, what) from None
    return loaded


# --- chat request ------------------------------------------------------------------------


class ToolCallSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(1, 200))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    arguments = fields.String(required=True, validate=validate.Length(0, 1_000_000))


class MessageSchema(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(
        required=True, validate=validate.OneOf(("system", "user", "assistant", "tool"))
    )
    content = fields.String(required=True, validate=validate.Length(0, 2_000_000))
    toolCalls = fields.List(fields.Nested(ToolCallSchema), validate=validate.Length(0, 128))
    toolCallId = fields.String(validate=validate.Length(1, 200))

    @validates_schema
    def _tool_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("role") == "tool" and not data.get("toolCallId"):
            raise ValidationError("A tool message needs the toolCallId it answers.", "toolCallId")
        if data.get("toolCalls") and data.get("role") != "assistant":
            raise ValidationError("Only assistant messages carry tool calls.", "toolCalls")


class ToolSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$"))
    description = fields.String(load_default="", validate=validate.Length(0, 10_000))
    parameters = fields.Dict(load_default=dict)


class ChatBodySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # clients may send extra bookkeeping (e.g. a conversation id)

    providerId = fields.String(required=True, validate=validate.Length(1, 100))
    messages = fields.List(
        fields.Nested(MessageSchema), required=True, validate=validate.Length(1, 10_000)
    )
    tools = fields.List(
        fields.Nested(ToolSchema), load_default=list, validate=validate.Length(0, 128)
    )
    parameters = fields.Nested(ParametersSchema, load_default=dict)
    model = fields.String(validate=lambda value: _check(_model_problem(value)))


def _check(problem: str | None) -> None:
    """A validator from a `*_problem` function."""
    if problem:
        raise ValidationError(problem)


# One instance each: building a schema costs about four times a load, and loading keeps no
# state on the instance (the hooks above read only their arguments), so threads may share them.
_CHAT_BODY_SCHEMA = ChatBodySchema()


_CHAT_BODY_BUT_MESSAGES = ChatBodySchema(exclude=("messages",))
_PLAIN_ROLES = frozenset(("system", "user", "assistant"))


def load_chat_request(body: Any) -> ChatRequest:
    """Validate a chat request body (docs/API.md, "Chat request") into a ChatRequest."""
    raw = _require_object(body, "chat request")
    plain = _plain_messages(raw.get("messages"))
    if plain is not None and "tools" not in raw and "parameters" not in raw:
        provider_id = raw.get("providerId")  # what the chat window sends: nothing else to check
        model = raw.get("model")
        model_ok = "model" not in raw or (type(model) is str and _model_problem(model) is None)
        if type(provider_id) is str and 1 <= len(provider_id) <= 100 and model_ok:
            return ChatRequest(provider_id, plain, (), {}, model)
    try:
        data = (_CHAT_BODY_SCHEMA if plain is None else _CHAT_BODY_BUT_MESSAGES).load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, "chat request") from None
    messages = plain or tuple(
        ChatMessage(
            role=m["role"],
            content=m["content"],
            tool_calls=tuple(
                ToolCall(c["id"], c["name"], c["arguments"]) for c in m.get("toolCalls", [])
            ),
            tool_call_id=m.get("toolCallId"),
        )
        for m in data["messages"]
    )
    tools = tuple(ToolSpec(t["name"], t["description"], t["parameters"]) for t in data["tools"])
    return ChatRequest(data["providerId"], messages, tools, data["parameters"], data.get("model"))


def _plain_messages(raw: Any) -> tuple[ChatMessage, ...] | None:
    """The messages when each is a plain `{role, content}` pair, checked exactly as
    `MessageSchema` checks one; None sends the whole body through the schema.

    Most of a conversation is such pairs, and the schema costs about 28 µs per message: a
    100-message chat spent ~3 ms being validated before its request could leave.
    """
    if type(raw) is not list or not 1 <= len(raw) <= 10_000:
        return None
    messages = []
    for message in raw:
        if type(message) is not dict or len(message) != 2:
            return None
        role, content = message.get("role"), message.get("content")
        if type(role) is not str or role not in _PLAIN_ROLES:
            return None
        if type(content) is not str or len(content) > 2_000_000:
            return None
        messages.append(ChatMessage(role, content))  # type: ignore[arg-type]
    return tuple(messages)


# --- conversations (docs/API.md, "Conversations") ----------------------------------------

MAX_ID = 100
MAX_TITLE = 200
MAX_SYSTEM_PROMPT = 100_000
MAX_CONTENT = 2_000_000
EXPORT_FORMATS = {"markdown": ".md", "json": ".json"}


def is_conversation_form(body: Any) -> bool:
    """Whether a chat body is the conversation form: it has a `conversationId` key (even null)
    or a `message` (a body that names no conversation and sends a `message` starts one)."""
    return isinstance(body, Mapping) and ("conversationId" in body or "message" in body)


def load_id(value: Any, field: str = "id") -> str:
    """A conversation or message id: a string of 1-100 characters (field error naming `field`)."""
    if type(value) is str and 1 <= len(value) <= MAX_ID and _is_text(value):
        return value
    raise InvalidConfig(
        f"The {field} is not valid: give the id as it was returned (at most {MAX_ID} characters).",
        fields={field: [f"Must be an id: a string of 1-{MAX_ID} characters."]},
    )


def _title_problem(value: str) -> str | None:
    if not value.strip():
        return "Give a title, or leave it out to use the first message."
    if len(value) > MAX_TITLE:
        return f"Must be at most {MAX_TITLE} characters."
    if CONTROL_RE.search(value) or BIDI_CONTROL_RE.search(value):
        return "Must not contain line breaks, control or text-direction characters."
    return None


class _ConversationFieldsSchema(Schema):
    """What createConversation and updateConversation share (camelCase in, snake_case out)."""

    class Meta:
        unknown = RAISE

    title = fields.String(allow_none=True, validate=lambda value: _check(_title_problem(value)))
    systemPrompt = fields.String(
        data_key="systemPrompt",
        attribute="system_prompt",
        validate=validate.Length(0, MAX_SYSTEM_PROMPT),
    )
    providerId = fields.String(
        attribute="provider_id", allow_none=True, validate=validate.Length(1, MAX_ID)
    )
    model = fields.String(allow_none=True, validate=lambda value: _check(_model_problem(value)))
    toolServers = fields.List(
        fields.String(validate=validate.Length(1, MAX_ID)),
        attribute="tool_servers",
        validate=validate.Length(0, 64),
    )


class CreateConversationSchema(_ConversationFieldsSchema):
    pass


class UpdateConversationSchema(_ConversationFieldsSchema):
    pinned = fields.Boolean(truthy={True}, falsy={False})
    currentLeafId = fields.String(attribute="current_leaf_id", validate=validate.Length(1, MAX_ID))


class ListConversationsOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=50, strict=True, validate=validate.Range(1, 200))
    cursor = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 500))


class GetConversationOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    leafId = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, MAX_ID))


class SearchOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=50, strict=True, validate=validate.Range(1, 200))


class ConversationExportOptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    format = fields.String(required=True, validate=validate.OneOf(tuple(EXPORT_FORMATS)))
    path = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 4096))

    @validates_schema
    def _extension(self, data: dict[str, Any], **kwargs: Any) -> None:
        path, kind = data.get("path"), data.get("format")
        if path is None or kind not in EXPORT_FORMATS:
            return
        suffix = EXPORT_FORMATS[kind]
        if not path.lower().endswith(suffix):
            raise ValidationError(f"A {kind} export's file name must end in {suffix}.", "path")


def load_conversation_fields(
    schema: type[_ConversationFieldsSchema], data: Any, what: str
) -> dict[str, Any]:
    """createConversation's or updateConversation's object, with the store's snake_case keys."""
    raw = {} if data is None else _require_object(data, what)
    broken = {str(k): [_NOT_TEXT] for k, v in raw.items() if not _is_text(k, v)}
    if broken:
        raise InvalidConfig(
            f"The {what} is not valid: {next(iter(broken))} - {_NOT_TEXT}", fields=broken
        )
    try:
        loaded: dict[str, Any] = schema().load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, what) from None
    if "title" in loaded and loaded["title"] is not None:
        loaded["title"] = loaded["title"].strip()
    return loaded


def load_search_query(query: Any) -> str:
    """searchConversations' query: a string of at most 1,000 characters."""
    if type(query) is str and len(query) <= 1000 and _is_text(query):
        return query
    raise InvalidConfig(
        "The search is not valid: give it as text of at most 1,000 characters.",
        fields={"query": ["Must be text of at most 1,000 characters."]},
    )


_FORM_ONLY_STATELESS = {
    "messages": "The conversation form takes its history from the stored conversation; "
    "send the new `message` instead.",
    "tools": "Tools of a conversation come from its toolServers, not from the request.",
}


class TurnMessageSchema(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=validate.OneOf(("user",)))
    content = fields.String(required=True, validate=validate.Length(1, MAX_CONTENT))


class ConversationChatSchema(Schema):
    class Meta:
        unknown = RAISE

    conversationId = fields.String(allow_none=True, validate=validate.Length(1, MAX_ID))
    parentId = fields.String(allow_none=True, validate=validate.Length(1, MAX_ID))
    message = fields.Nested(TurnMessageSchema)
    providerId = fields.String(allow_none=True, validate=validate.Length(1, MAX_ID))
    model = fields.String(allow_none=True, validate=lambda value: _check(_model_problem(value)))
    parameters = fields.Nested(ParametersSchema, load_default=dict)


_CONVERSATION_CHAT_SCHEMA = ConversationChatSchema()


def load_conversation_turn(body: Any) -> ConversationTurn:
    """Validate a chat body in the conversation form into a ConversationTurn."""
    raw = _require_object(body, "chat request")
    refused = {key: [why] for key, why in _FORM_ONLY_STATELESS.items() if key in raw}
    broken = {str(k): [_NOT_TEXT] for k, v in raw.items() if not _is_text(k, v)}
    try:
        data: dict[str, Any] = _CONVERSATION_CHAT_SCHEMA.load(
            {k: v for k, v in raw.items() if k not in refused}
        )
    except ValidationError as err:
        problems = _invalid(err, "chat request").fields
    else:
        problems = {}
    problems = {**problems, **refused, **broken}
    if problems:
        first = next(iter(problems))
        raise InvalidConfig(
            f"The chat request is not valid: {first} - {problems[first][0]}", fields=problems
        )
    conversation_id = data.get("conversationId")
    if conversation_id is None and "message" not in data:
        raise InvalidConfig(
            "Give a message to start a conversation (regenerating needs a conversationId).",
            fields={"message": ["Required to start a new conversation."]},
        )
    if conversation_id is None and data.get("parentId") is not None:
        raise InvalidConfig(
            "A new conversation has no messages to answer from: leave parentId out.",
            fields={"parentId": ["Must be absent or null for a new conversation."]},
        )
    message = data.get("message")
    return ConversationTurn(
        conversation_id=conversation_id,
        parent_id=data.get("parentId"),
        parent_given="parentId" in data,
        content=None if message is None else message["content"],
        provider_id=data.get("providerId"),
        model=data.get("model"),
        parameters=data["parameters"],
    )


# --- routes (docs/API.md, "Routes") -----------------------------------------------------

ROUTE_STRATEGIES = ("failover", "round-robin", "fastest")
MAX_ROUTE_MEMBERS = 32
ROUTE_READ_ONLY = ("id", "createdAt", "updatedAt", "circuits")


class _RouteFields(Schema):
    """What every route has beside its members; names follow the providers' rules."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=lambda value: _check(_name_problem(value)))
    displayName = fields.String(
        required=True, validate=lambda value: _check(_display_name_problem(value))
    )
    strategy = fields.String(load_default="failover", validate=validate.OneOf(ROUTE_STRATEGIES))

    def member_key(self, member: str) -> str:
        """What makes two members the same one."""
        return member

    @validates_schema(skip_on_field_errors=False)
    def _distinct_members(self, data: dict[str, Any], **kwargs: Any) -> None:
        keys = [self.member_key(member) for member in data.get("members") or []]
        if len(set(keys)) != len(keys):
            raise ValidationError(self.repeated_member, "members")

    repeated_member = "Each provider can be in a route only once."


class RouteSchema(_RouteFields):
    """A route as users give it: members are provider ids."""

    members = fields.List(
        fields.String(validate=validate.Length(1, MAX_ID)),
        required=True,
        validate=validate.Length(
            1, MAX_ROUTE_MEMBERS, error="Choose 1 to {max} providers for the route."
        ),
    )


_ROUTE_SCHEMA = RouteSchema()
_ROUTE_SCHEMA_KEEPING_MEMBERS = RouteSchema(partial=("members",))


def load_route(data: Any, *, what: str = "route") -> dict[str, Any]:
    """Validate a whole route (addRoute's config)."""
    raw = _text_fields_object(data, what)
    try:
        loaded: dict[str, Any] = _ROUTE_SCHEMA.load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, what, ROUTE_READ_ONLY) from None
    return loaded


def merge_route_update(current: Mapping[str, Any], updates: Any) -> dict[str, Any]:
    """Apply partial `updates` to a route's fields and validate the result. Members given
    must be 1 or more; left out, they stay as they are (even none, after their providers
    were removed), so such a route can still be renamed."""
    changes = _require_object(updates, "update")
    if "members" in changes:
        return load_route({**current, **changes}, what="update")
    merged = {k: v for k, v in {**current, **changes}.items() if k != "members"}
    broken = {str(k): [_NOT_TEXT] for k, v in merged.items() if not _is_text(k, v)}
    if broken:
        first = next(iter(broken))
        raise InvalidConfig(f"The update is not valid: {first} - {_NOT_TEXT}", fields=broken)
    try:
        loaded: dict[str, Any] = _ROUTE_SCHEMA_KEEPING_MEMBERS.load(merged)
    except ValidationError as err:
        raise _invalid(err, "update", ROUTE_READ_ONLY) from None
    return {**loaded, "members": list(current["members"])}


# --- routes in an export file (docs/API.md, "Export file") ------------------------------


class ExportedRouteSchema(_RouteFields):
    """A route as an export file carries it: members named by provider name. A route may have
    none, as one whose providers were all removed still exists in the app."""

    members = fields.List(
        fields.String(validate=lambda value: _check(_name_problem(value))),
        required=True,
        validate=validate.Length(max=MAX_ROUTE_MEMBERS, error="At most {max} providers."),
    )
    repeated_member = "Each provider can be in a route only once (names ignore case)."

    def member_key(self, member: str) -> str:
        return member.casefold()


_EXPORTED_ROUTE_SCHEMA = ExportedRouteSchema()


def load_exported_route(data: Any, *, what: str = "route") -> dict[str, Any]:
    """Validate a route of an export file (members are provider names, 0 to 32 of them)."""
    raw = _text_fields_object(data, what)
    try:
        loaded: dict[str, Any] = _EXPORTED_ROUTE_SCHEMA.load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, what, ROUTE_READ_ONLY) from None
    return loaded
