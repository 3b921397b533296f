"""Input validation for everything users and files send in (the only marshmallow user).

Each loader returns plain dicts or models and raises `InvalidConfig` with `fields` mapping the
contract's camelCase field names (nested ones joined with dots, e.g. `parameters.topP`) to
messages. No message ever repeats the value it rejects, so a key pasted into the wrong field
cannot leak through an error. Messages are in the app's language, marshmallow's own ones too:
the schemas here are built from the field, validator and schema classes below, whose messages
are catalogue keys (`Text`) looked up when an error is made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Mapping
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from backend.errors import InvalidConfig
from backend.i18n import tr
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


class Text(str):
    """A catalogue key standing where marshmallow wants a message: its text is looked up
    (`tr`) when an error is made, in the language of that moment. marshmallow formats a field's
    or validator's message as it makes the error (`format`), and puts a schema's own messages
    in the error dict as they are, read with `str` by `_flatten`."""

    __slots__ = ()

    def format(self, *args: object, **params: Any) -> str:
        return tr(str.__str__(self), **params)

    def __str__(self) -> str:
        return tr(str.__str__(self))


# marshmallow's own messages, in the catalogue: a schema's, and every field's. A field class
# collects its messages from its bases, so each kind used here gets a subclass naming its own.
_FIELD_MESSAGES: dict[str, Any] = {
    "required": Text("fields.required"),
    "null": Text("fields.null"),
    "validator_failed": Text("fields.invalid"),
}
_SCHEMA_MESSAGES: dict[str, Any] = {
    "unknown": Text("fields.unknown"),
    "type": Text("fields.invalidInputType"),
}


def _messages(**own: Text) -> dict[str, Any]:
    """A field kind's messages: those every field has, and its `own`."""
    return {**_FIELD_MESSAGES, **own}


class String(fields.String):
    default_error_messages = _messages(
        invalid=Text("fields.notString"), invalid_utf8=Text("fields.notUtf8")
    )


class Boolean(fields.Boolean):
    default_error_messages = _messages(invalid=Text("fields.notBoolean"))


class Integer(fields.Integer):
    default_error_messages = _messages(
        invalid=Text("fields.notInteger"), too_large=Text("fields.numberTooLarge")
    )


class Dict(fields.Dict):
    default_error_messages = _messages(invalid=Text("fields.notMapping"))


class List(fields.List[Any]):
    default_error_messages = _messages(invalid=Text("fields.notList"))


class Nested(fields.Nested):
    default_error_messages = _messages(type=Text("fields.invalidType"))


class Raw(fields.Raw):
    default_error_messages = _messages()


class Length(validate.Length):
    message_min = Text("fields.length.min")
    message_max = Text("fields.length.max")
    message_all = Text("fields.length.between")
    message_equal = Text("fields.length.equal")


class Range(validate.Range):
    """A range whose bounds are both inclusive, as every range here is."""

    def __init__(self, min: Any = None, max: Any = None, **kwargs: Any) -> None:
        super().__init__(min, max, **kwargs)
        # marshmallow builds these from words when it is made; ours are whole sentences.
        self.message_min = Text("fields.range.min")
        self.message_max = Text("fields.range.max")
        self.message_all = Text("fields.range.between")


class OneOf(validate.OneOf):
    default_message = Text("fields.oneOf")


class Regexp(validate.Regexp):
    default_message = Text("fields.pattern")


class AppSchema(Schema):
    """A schema whose own messages (an unknown field, an input of the wrong type) are in the
    catalogue; every schema here is one."""

    error_messages = _SCHEMA_MESSAGES


class StrictNumber(fields.Field[float]):
    """A JSON number in a closed range; refuses strings, booleans, NaN and infinities."""

    default_error_messages = _messages()

    def __init__(self, low: float, high: float, *, integer: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high, self.integer = low, high, integer

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        bounds = {"low": _num(self.low), "high": _num(self.high)}
        whole = tr("fields.number.wholeInRange", **bounds)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(whole if self.integer else tr("fields.number.inRange", **bounds))
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(tr("fields.number.finite"))
        if self.integer and not isinstance(value, int):
            raise ValidationError(whole)
        if not self.low <= value <= self.high:
            raise ValidationError(tr("fields.number.range", **bounds))
        return value


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else str(value)


class ParametersSchema(AppSchema):
    class Meta:
        unknown = RAISE

    temperature = StrictNumber(0, 2)
    maxTokens = StrictNumber(1, 1_000_000, integer=True)
    topP = StrictNumber(0, 1)
    frequencyPenalty = StrictNumber(-2, 2)
    presencePenalty = StrictNumber(-2, 2)


class AuthSchema(AppSchema):
    class Meta:
        unknown = RAISE

    scheme = String(required=True, validate=OneOf(AUTH_SCHEMES))
    name = String(validate=Length(1, 100))

    @validates_schema
    def _name_fits_scheme(self, data: dict[str, Any], **kwargs: Any) -> None:
        scheme, name = data.get("scheme"), data.get("name")
        if scheme == "header" and not name:
            raise ValidationError(tr("fields.auth.headerNameNeeded"), "name")
        if scheme == "query" and not name:
            raise ValidationError(tr("fields.auth.queryNameNeeded"), "name")
        if scheme in ("bearer", "none") and name is not None:
            raise ValidationError(tr("fields.auth.nameNotTaken"), "name")
        if scheme == "header" and name and not TOKEN_RE.fullmatch(name):
            raise ValidationError(tr("fields.auth.badHeaderName"), "name")
        if scheme == "query" and name and not re.fullmatch(r"[A-Za-z0-9._~-]+", name):
            raise ValidationError(tr("fields.auth.badQueryName"), "name")


class EndpointsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    chat = String()
    models = String()

    @validates_schema
    def _paths(self, data: dict[str, Any], **kwargs: Any) -> None:
        for key, path in data.items():
            problem = _endpoint_problem(path)
            if problem:
                raise ValidationError(problem, key)


def _endpoint_problem(path: str) -> str | None:
    if not path.startswith("/") or path.startswith("//"):
        return tr("fields.endpoint.slash")
    if len(path) > 1024:
        return _at_most(1024)
    if CONTROL_RE.search(path) or " " in path or "#" in path:
        return tr("fields.endpoint.characters")
    if ENDPOINT_ESCAPE_RE.search(path.partition("?")[0]):
        return tr("fields.endpoint.escapes")
    return None


def _at_most(characters: int) -> str:
    return tr("fields.atMostCharacters", max=f"{characters:,}")


class ProviderSchema(AppSchema):
    """A whole provider as users and import files give it (docs/API.md, "Providers")."""

    class Meta:
        unknown = RAISE

    name = String(required=True)
    displayName = String(required=True)
    baseURL = String(required=True)
    model = String(required=True)
    type = String(required=True, validate=OneOf(PROVIDER_TYPES))
    # null is only for a credential header: keep its stored value (or, new, leave it unset).
    headers = Dict(keys=String(), values=String(allow_none=True))
    parameters = Nested(ParametersSchema)
    auth = Nested(AuthSchema)
    endpoints = Nested(EndpointsSchema)
    checkKind = String(
        validate=OneOf(
            CHECK_KINDS,
            error=Text("fields.checkKind"),
        )
    )
    apiKey = String()
    # Checked by `_api_keys_problems`, so each key's problem is named by its place in the list.
    apiKeys = Raw()

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
    return tr("fields.name.format")


def _display_name_problem(value: str) -> str | None:
    if not value.strip():
        return tr("fields.displayName.empty")
    if len(value) > 80:
        return _at_most(80)
    if CONTROL_RE.search(value):
        return tr("fields.displayName.control")
    if BIDI_CONTROL_RE.search(value):
        return tr("fields.displayName.bidi")
    return None


def _url_parts(url: str, schemes: Container[str]) -> SplitResult | str:
    """`url` split, or which of the problems every URL field shares it has: "tooLong",
    "spaces", "invalid" (no parse, a bad port), "form" (another scheme, no host)."""
    if len(url) > 2048:
        return "tooLong"
    if CONTROL_RE.search(url) or any(c.isspace() for c in url):
        return "spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "invalid"
    if parts.scheme.lower() not in schemes or not parts.hostname:
        return "form"
    return parts


# What is wrong with an http(s) URL -> its message key, for a provider's base URL and for an MCP
# server's URL (which may carry a query).
_BASE_URL_PROBLEMS = {
    "spaces": "fields.baseUrl.spaces",
    "invalid": "fields.baseUrl.invalid",
    "form": "fields.baseUrl.notHttp",
    "credentials": "fields.baseUrl.credentials",
    "fragment": "fields.baseUrl.fragment",
    "query": "fields.baseUrl.query",
}
_MCP_URL_PROBLEMS = {
    "spaces": "fields.mcp.url.spaces",
    "invalid": "fields.mcp.url.invalid",
    "form": "fields.mcp.url.notHttp",
    "credentials": "fields.mcp.url.credentials",
    "fragment": "fields.mcp.url.fragment",
}


def _http_url_problem(url: str, messages: Mapping[str, str]) -> str | None:
    """An http(s) URL with a host and no user:password or fragment (nor a query, when
    `messages` has no "query" entry: then one is allowed)."""
    parts = _url_parts(url, ("http", "https"))
    if parts == "tooLong":
        return _at_most(2048)
    if isinstance(parts, str):
        return tr(messages[parts])
    if parts.username is not None or parts.password is not None:
        return tr(messages["credentials"])
    if parts.fragment or url.endswith("#"):
        return tr(messages["fragment"])
    if "query" in messages and (parts.query or url.endswith("?")):
        return tr(messages["query"])
    return None


def _base_url_problem(url: str) -> str | None:
    return _http_url_problem(url, _BASE_URL_PROBLEMS)


def _model_problem(value: str) -> str | None:
    if not 1 <= len(value) <= 200:
        return tr("fields.model.length")
    if CONTROL_RE.search(value):
        return tr("fields.noControlCharacters")
    return None


def _headers_problem(headers: Mapping[str, str | None]) -> str | None:
    if len(headers) > MAX_HEADERS:
        return tr("fields.headers.tooMany", max=MAX_HEADERS)
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if not TOKEN_RE.fullmatch(name):
            return tr("fields.headers.badName")
        if lower in FORBIDDEN_HEADERS:
            return tr("fields.headers.reserved", name=name)
        if lower in seen:
            return tr("fields.headers.twice", name=name)
        if value is None and not is_secret_header(name):
            return tr("fields.headers.valueNeeded", name=name)
        if value is not None and any(c in value for c in "\r\n\x00"):
            return tr("fields.headers.lineBreaks", name=name)
        seen.add(lower)
    return None


def _api_key_problem(key: str) -> str | None:
    if key == "":
        return None  # on update "" removes the stored key; on add it means "no key"
    if len(key) > 4096:
        return _at_most(4096)
    if not key.isprintable():
        return tr("fields.apiKey.printable")
    if key != key.strip():
        return tr("fields.apiKey.spaces")
    return None


def _api_keys_problems(keys: Any, with_api_key: bool) -> dict[str, list[str]]:
    """Field errors of an `apiKeys` list: the whole list's under `apiKeys`, a key's under
    `apiKeys.<index>` (counting from 0)."""
    if with_api_key:
        return {"apiKeys": [tr("fields.apiKeys.both")]}
    if not isinstance(keys, list):
        return {"apiKeys": [tr("fields.apiKeys.notList")]}
    if len(keys) > MAX_KEYS:
        return {"apiKeys": [tr("fields.apiKeys.tooMany", max=MAX_KEYS)]}
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            problem: str | None = tr("fields.apiKey.notText")
        elif key == "":
            problem = tr("fields.apiKeys.empty")
        elif key in seen:
            problem = tr("fields.apiKeys.repeated")
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
            tr("fields.apiKeys.summary", field=first, problem=problems[first][0]), fields=problems
        )
    return list(keys)


def load_key(key: Any) -> str:
    """Validate one key given on its own (`addProviderKey`)."""
    problem = (
        tr("fields.apiKey.notText")
        if not isinstance(key, str)
        else tr("fields.apiKey.empty")
        if key == ""
        else _api_key_problem(key)
    )
    if problem is None and not _is_text(key):
        problem = _not_text()
    if problem:
        raise InvalidConfig(tr("fields.apiKey.summary", problem=problem), fields={"key": [problem]})
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
    unknown = [tr("fields.unknown")]
    for name in read_only:
        if fields_map.get(name) == unknown:
            fields_map[name] = [tr("fields.readOnly")]
    return invalid(what, fields_map)


# What `invalid` calls the object it refuses ("The provider is not valid: …"): a caller names
# it by one of these words, or passes a phrase already in the app's language.
SUBJECTS = {
    "provider": "fields.subject.provider",
    "update": "fields.subject.update",
    "options": "fields.subject.options",
    "chat request": "fields.subject.chatRequest",
    "conversation": "fields.subject.conversation",
    "changes": "fields.subject.changes",
    "route": "fields.subject.route",
    "price": "fields.subject.price",
    "budget": "fields.subject.budget",
    "mcp server": "fields.subject.mcpServer",
    "tool approval": "fields.subject.toolApproval",
    "tool policy": "fields.subject.toolPolicy",
}
_PLURAL_SUBJECTS = frozenset({"options", "changes"})


def invalid(what: str, problems: Mapping[str, list[str]]) -> InvalidConfig:
    """INVALID_CONFIG for `what` with these field problems, its message naming the first."""
    plural = what in _PLURAL_SUBJECTS
    first = next(iter(problems), "")
    if not first:
        key = "fields.summary.plainMany" if plural else "fields.summary.plainOne"
        return InvalidConfig(tr(key, what=_subject(what)), fields=problems)
    key = "fields.summary.many" if plural else "fields.summary.one"
    message = tr(key, what=_subject(what), field=first, problem=problems[first][0])
    return InvalidConfig(message, fields=problems)


def not_an_object(what: str) -> InvalidConfig:
    """INVALID_CONFIG for `what` (as `invalid` names it) given as something else than an object."""
    return InvalidConfig(
        tr("fields.subjectNotObject", what=_subject(what)),
        fields={"_schema": [tr("fields.notObject")]},
    )


def _subject(what: str) -> str:
    return tr(SUBJECTS[what]) if what in SUBJECTS else what


def _require_object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise not_an_object(what)
    return value


def _not_text() -> str:
    return tr("fields.brokenCharacter")


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
    broken = {str(name): [_not_text()] for name, value in raw.items() if not _is_text(name, value)}
    if broken:
        raise invalid(what, broken)
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


class SaveOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    # `validate` would hide Schema.validate, so the attribute has another name.
    validate_first = Boolean(data_key="validate", load_default=True, truthy={True}, falsy={False})


class ExportOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    includeKeys = Boolean(load_default=False, truthy={True}, falsy={False})
    passphrase = String(allow_none=True, load_default=None)
    path = String(allow_none=True, load_default=None, validate=Length(1, 4096))


class ImportOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    path = String(allow_none=True, load_default=None, validate=Length(1, 4096))
    content = String(allow_none=True, load_default=None)
    contentBase64 = String(allow_none=True, load_default=None)
    passphrase = String(allow_none=True, load_default=None)
    onConflict = String(load_default="skip", validate=OneOf(("skip", "replace", "rename")))
    dryRun = Boolean(load_default=False, truthy={True}, falsy={False})


class HistoryOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    since = String(allow_none=True, load_default=None, validate=Length(1, 40))
    limit = Integer(load_default=2000, strict=True, validate=Range(1, 20000))


def load_options(schema: type[Schema], options: Any, what: str = "options") -> dict[str, Any]:
    """Validate an options object (None means all defaults)."""
    raw = {} if options is None else _require_object(options, what)
    try:
        loaded: dict[str, Any] = schema().load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, what) from None
    return loaded


# --- chat request ------------------------------------------------------------------------


class ToolCallSchema(AppSchema):
    class Meta:
        unknown = RAISE

    id = String(required=True, validate=Length(1, 200))
    name = String(required=True, validate=Length(1, 200))
    arguments = String(required=True, validate=Length(0, 1_000_000))


class MessageSchema(AppSchema):
    class Meta:
        unknown = RAISE

    role = String(required=True, validate=OneOf(("system", "user", "assistant", "tool")))
    content = String(required=True, validate=Length(0, 2_000_000))
    toolCalls = List(Nested(ToolCallSchema), validate=Length(0, 128))
    toolCallId = String(validate=Length(1, 200))

    @validates_schema
    def _tool_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("role") == "tool" and not data.get("toolCallId"):
            raise ValidationError(tr("fields.message.toolCallIdNeeded"), "toolCallId")
        if data.get("toolCalls") and data.get("role") != "assistant":
            raise ValidationError(tr("fields.message.toolCallsAssistantOnly"), "toolCalls")


class ToolSchema(AppSchema):
    class Meta:
        unknown = RAISE

    name = String(required=True, validate=Regexp(r"^[A-Za-z0-9_-]{1,64}$"))
    description = String(load_default="", validate=Length(0, 10_000))
    parameters = Dict(load_default=dict)


class ChatBodySchema(AppSchema):
    class Meta:
        unknown = EXCLUDE  # clients may send extra bookkeeping (e.g. a conversation id)

    providerId = String(required=True, validate=Length(1, 100))
    messages = List(Nested(MessageSchema), required=True, validate=Length(1, 10_000))
    tools = List(Nested(ToolSchema), load_default=list, validate=Length(0, 128))
    # MCP servers whose tools the app offers and runs (docs/API.md, "Tools in a chat").
    toolServers = List(String(validate=Length(1, 100)), load_default=list, validate=Length(0, 64))
    parameters = Nested(ParametersSchema, load_default=dict)
    model = String(validate=lambda value: _check(_model_problem(value)))

    @validates_schema
    def _one_kind_of_tools(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("tools") and data.get("toolServers"):
            raise ValidationError(tr("fields.toolServers.withTools"), "toolServers")


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
    if plain is not None and not ("tools" in raw or "parameters" in raw or "toolServers" in raw):
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
    return ChatRequest(
        data["providerId"],
        messages,
        tools,
        data["parameters"],
        data.get("model"),
        tool_servers=tuple(dict.fromkeys(data["toolServers"])),
    )


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
        tr("fields.id.summary", field=field, max=MAX_ID),
        fields={field: [tr("fields.id.invalid", max=MAX_ID)]},
    )


def _title_problem(value: str) -> str | None:
    if not value.strip():
        return tr("fields.title.empty")
    if len(value) > MAX_TITLE:
        return _at_most(MAX_TITLE)
    if CONTROL_RE.search(value) or BIDI_CONTROL_RE.search(value):
        return tr("fields.title.characters")
    return None


class _ConversationFieldsSchema(AppSchema):
    """What createConversation and updateConversation share (camelCase in, snake_case out)."""

    class Meta:
        unknown = RAISE

    title = String(allow_none=True, validate=lambda value: _check(_title_problem(value)))
    systemPrompt = String(
        data_key="systemPrompt",
        attribute="system_prompt",
        validate=Length(0, MAX_SYSTEM_PROMPT),
    )
    providerId = String(attribute="provider_id", allow_none=True, validate=Length(1, MAX_ID))
    model = String(allow_none=True, validate=lambda value: _check(_model_problem(value)))
    toolServers = List(
        String(validate=Length(1, MAX_ID)),
        attribute="tool_servers",
        validate=Length(0, 64),
    )


class CreateConversationSchema(_ConversationFieldsSchema):
    pass


class UpdateConversationSchema(_ConversationFieldsSchema):
    pinned = Boolean(truthy={True}, falsy={False})
    currentLeafId = String(attribute="current_leaf_id", validate=Length(1, MAX_ID))


class ListConversationsOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    limit = Integer(load_default=50, strict=True, validate=Range(1, 200))
    cursor = String(allow_none=True, load_default=None, validate=Length(1, 500))


class GetConversationOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    leafId = String(allow_none=True, load_default=None, validate=Length(1, MAX_ID))


class SearchOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    limit = Integer(load_default=50, strict=True, validate=Range(1, 200))


class ConversationExportOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    format = String(required=True, validate=OneOf(tuple(EXPORT_FORMATS)))
    path = String(allow_none=True, load_default=None, validate=Length(1, 4096))

    @validates_schema
    def _extension(self, data: dict[str, Any], **kwargs: Any) -> None:
        path, kind = data.get("path"), data.get("format")
        if path is None or kind not in EXPORT_FORMATS:
            return
        suffix = EXPORT_FORMATS[kind]
        if not path.lower().endswith(suffix):
            raise ValidationError(tr("fields.export.extension", format=kind, suffix=suffix), "path")


def load_conversation_fields(
    schema: type[_ConversationFieldsSchema], data: Any, what: str
) -> dict[str, Any]:
    """createConversation's or updateConversation's object, with the store's snake_case keys."""
    raw = {} if data is None else _require_object(data, what)
    broken = {str(k): [_not_text()] for k, v in raw.items() if not _is_text(k, v)}
    if broken:
        raise invalid(what, broken)
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
        tr("fields.search.summary", max="1,000"),
        fields={"query": [tr("fields.search.query", max="1,000")]},
    )


# Fields of the stateless form that the conversation form refuses, with why.
_FORM_ONLY_STATELESS = {
    "messages": "fields.turn.noMessages",
    "tools": "fields.turn.noTools",
}


class TurnMessageSchema(AppSchema):
    class Meta:
        unknown = RAISE

    role = String(required=True, validate=OneOf(("user",)))
    content = String(required=True, validate=Length(1, MAX_CONTENT))


class ConversationChatSchema(AppSchema):
    class Meta:
        unknown = RAISE

    conversationId = String(allow_none=True, validate=Length(1, MAX_ID))
    parentId = String(allow_none=True, validate=Length(1, MAX_ID))
    message = Nested(TurnMessageSchema)
    providerId = String(allow_none=True, validate=Length(1, MAX_ID))
    model = String(allow_none=True, validate=lambda value: _check(_model_problem(value)))
    parameters = Nested(ParametersSchema, load_default=dict)
    toolServers = List(String(validate=Length(1, MAX_ID)), validate=Length(0, 64))


_CONVERSATION_CHAT_SCHEMA = ConversationChatSchema()


def load_conversation_turn(body: Any) -> ConversationTurn:
    """Validate a chat body in the conversation form into a ConversationTurn."""
    raw = _require_object(body, "chat request")
    refused = {key: [tr(why)] for key, why in _FORM_ONLY_STATELESS.items() if key in raw}
    broken = {str(k): [_not_text()] for k, v in raw.items() if not _is_text(k, v)}
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
        raise invalid("chat request", problems)
    conversation_id = data.get("conversationId")
    if conversation_id is None and "message" not in data:
        raise InvalidConfig(
            tr("fields.turn.messageNeeded"), fields={"message": [tr("fields.turn.messageRequired")]}
        )
    if conversation_id is None and data.get("parentId") is not None:
        raise InvalidConfig(
            tr("fields.turn.noParent"), fields={"parentId": [tr("fields.turn.parentAbsent")]}
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
        tool_servers=(
            None if "toolServers" not in data else tuple(dict.fromkeys(data["toolServers"]))
        ),
    )


class ToolApprovalSchema(AppSchema):
    """answerToolApproval's arguments (docs/API.md, "Tools in a chat")."""

    class Meta:
        unknown = RAISE

    requestId = String(required=True, validate=Length(1, MAX_ID))
    callId = String(required=True, validate=Length(1, MAX_ID))
    decision = String(required=True, validate=OneOf(("allow", "deny")))


_TOOL_APPROVAL_SCHEMA = ToolApprovalSchema()


def load_tool_approval(
    request_id: Any, call_id: Any, decision: Any
) -> tuple[str, str, Literal["allow", "deny"]]:
    """(requestId, callId, decision) of answerToolApproval, else INVALID_CONFIG naming each
    field that is wrong."""
    raw = {"requestId": request_id, "callId": call_id, "decision": decision}
    try:
        data: dict[str, Any] = _TOOL_APPROVAL_SCHEMA.load(raw)
    except ValidationError as err:
        raise _invalid(err, "tool approval") from None
    choice: Literal["allow", "deny"] = "allow" if data["decision"] == "allow" else "deny"
    return data["requestId"], data["callId"], choice


# --- routes (docs/API.md, "Routes") -----------------------------------------------------

ROUTE_STRATEGIES = ("failover", "round-robin", "fastest")
MAX_ROUTE_MEMBERS = 32
ROUTE_READ_ONLY = ("id", "createdAt", "updatedAt", "circuits")


class _RouteFields(AppSchema):
    """What every route has beside its members; names follow the providers' rules."""

    class Meta:
        unknown = RAISE

    name = String(required=True, validate=lambda value: _check(_name_problem(value)))
    displayName = String(required=True, validate=lambda value: _check(_display_name_problem(value)))
    strategy = String(load_default="failover", validate=OneOf(ROUTE_STRATEGIES))

    def member_key(self, member: str) -> str:
        """What makes two members the same one."""
        return member

    @validates_schema(skip_on_field_errors=False)
    def _distinct_members(self, data: dict[str, Any], **kwargs: Any) -> None:
        keys = [self.member_key(member) for member in data.get("members") or []]
        if len(set(keys)) != len(keys):
            raise ValidationError(tr(self.repeated_member), "members")

    repeated_member = "fields.route.repeatedMember"


class RouteSchema(_RouteFields):
    """A route as users give it: members are provider ids."""

    members = List(
        String(validate=Length(1, MAX_ID)),
        required=True,
        validate=Length(1, MAX_ROUTE_MEMBERS, error=Text("fields.route.memberCount")),
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
    broken = {str(k): [_not_text()] for k, v in merged.items() if not _is_text(k, v)}
    if broken:
        raise invalid("update", broken)
    try:
        loaded: dict[str, Any] = _ROUTE_SCHEMA_KEEPING_MEMBERS.load(merged)
    except ValidationError as err:
        raise _invalid(err, "update", ROUTE_READ_ONLY) from None
    return {**loaded, "members": list(current["members"])}


# --- routes in an export file (docs/API.md, "Export file") ------------------------------


class ExportedRouteSchema(_RouteFields):
    """A route as an export file carries it: members named by provider name. A route may have
    none, as one whose providers were all removed still exists in the app."""

    members = List(
        String(validate=lambda value: _check(_name_problem(value))),
        required=True,
        validate=Length(max=MAX_ROUTE_MEMBERS, error=Text("fields.route.atMostMembers")),
    )
    repeated_member = "fields.route.repeatedMemberName"

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


# --- settings (CONTRACT §13, docs/API.md "Settings") ----------------------------------------

LANGUAGE_CHOICES = ("system", "en", "zh-CN")
THEME_CHOICES = ("system", "light", "dark")
SEND_KEY_CHOICES = ("enter", "ctrl-enter")
PROXY_MODES = ("system", "none", "manual")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class ProxySettingsSchema(AppSchema):
    """The `proxy` setting, or the part of it an update or a proxy test gives."""

    class Meta:
        unknown = RAISE

    mode = String(validate=OneOf(PROXY_MODES))
    url = String(allow_none=True)
    # Read only, but a settings object read back may carry it: false removes the password.
    hasPassword = Boolean(truthy={True}, falsy={False})

    @validates_schema
    def _url(self, data: dict[str, Any], **kwargs: Any) -> None:
        url = data.get("url")
        problem = _proxy_url_problem(url) if url else None
        if problem:
            raise ValidationError(problem, "url")


class SettingsSchema(AppSchema):
    """A partial settings object; `health` holds the health settings, which
    `backend.health.rules` checks."""

    class Meta:
        unknown = RAISE

    language = String(validate=OneOf(LANGUAGE_CHOICES))
    theme = String(validate=OneOf(THEME_CHOICES))
    sendKey = String(validate=OneOf(SEND_KEY_CHOICES))
    proxy = Nested(ProxySettingsSchema)
    health = Dict()


class ProxyTestOptionsSchema(AppSchema):
    class Meta:
        unknown = RAISE

    proxy = Nested(ProxySettingsSchema, load_default=None)
    providerId = String(allow_none=True, load_default=None, validate=Length(1, 200))


_SETTINGS_SCHEMA = SettingsSchema()


_PROXY_URL_PROBLEMS = {
    "tooLong": "settings.proxy.url.tooLong",
    "spaces": "settings.proxy.url.spaces",
    "invalid": "settings.proxy.url.invalid",
    "form": "settings.proxy.url.form",
}


def _proxy_url_problem(url: str) -> str | None:
    parts = _url_parts(url, PROXY_SCHEMES)
    if isinstance(parts, str):
        return tr(_PROXY_URL_PROBLEMS[parts])
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        return tr("settings.proxy.url.path")
    return None


def check_settings(data: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A partial settings object checked: what of it is valid, and the problems, by field
    named with dots (`proxy.url`). The caller adds the health settings' own and decides."""
    if not isinstance(data, Mapping):
        return {}, {"_schema": [tr("fields.notObject")]}
    broken = {str(name): [_not_text()] for name, value in data.items() if not _is_text(name, value)}
    if broken:
        return {}, broken
    try:
        loaded: dict[str, Any] = _SETTINGS_SCHEMA.load(dict(data))
    except ValidationError as err:
        valid = err.valid_data if isinstance(err.valid_data, dict) else {}
        return valid, _flatten(err.messages)
    return loaded, {}


# --- MCP servers (CONTRACT §12, docs/API.md "Tools (MCP)") --------------------------------

MCP_TRANSPORTS = ("stdio", "http")
MCP_APPROVALS = ("ask", "always")
MCP_READ_ONLY = (
    "id",
    "commandLine",
    "secretEnv",
    "secretHeaders",
    "status",
    "error",
    "tools",
    "createdAt",
    "updatedAt",
)
MAX_MCP_TEXT = 4096
"""At most this many characters in a stdio server's command and in each of its arguments."""
MAX_MCP_ARGS = 64
MAX_MCP_ENV = 64
MAX_MCP_VALUE = 16_384
"""At most this many characters in an `env` or `headers` value (tokens can be long JWTs)."""
MAX_TOOL_NAME = 1000
MCP_TIMEOUT_SECONDS = (1, 600)
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The SDK sets these on every request of the streamable HTTP transport.
MCP_OWN_HEADERS = frozenset({"mcp-session-id", "mcp-protocol-version"})


class McpServerSchema(AppSchema):
    """A whole MCP server as a user gives it; `env` and `headers` values may be null, which
    keeps a stored value (checked by the service, which knows what is stored)."""

    class Meta:
        unknown = RAISE

    name = String(required=True)
    displayName = String(required=True)
    transport = String(required=True, validate=OneOf(MCP_TRANSPORTS))
    command = String(allow_none=True)
    args = List(String(), allow_none=True)
    env = Dict(keys=String(), values=String(allow_none=True), allow_none=True)
    url = String(allow_none=True)
    headers = Dict(keys=String(), values=String(allow_none=True), allow_none=True)
    enabled = Boolean(truthy={True}, falsy={False})
    timeoutSeconds = StrictNumber(*MCP_TIMEOUT_SECONDS)

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        checks = (
            ("name", _name_problem),
            ("displayName", _display_name_problem),
            ("command", _command_problem),
            ("url", _mcp_url_problem),
            ("env", _env_problem),
            ("headers", _mcp_headers_problem),
        )
        for key, check in checks:
            if data.get(key) is not None:
                problem = check(data[key])
                if problem:
                    errors[key] = [problem]
        errors.update(_args_problems(data.get("args") or []))
        errors.update(_transport_problems(data))
        if errors:
            raise ValidationError(errors)


def _command_problem(command: str) -> str | None:
    if not command.strip():
        return tr("fields.mcp.command.needed")
    if len(command) > MAX_MCP_TEXT:
        return _at_most(MAX_MCP_TEXT)
    if CONTROL_RE.search(command):
        return tr("fields.noControlCharacters")
    if command != command.strip():
        return tr("fields.mcp.command.spaces")
    return None


def _args_problems(args: list[str]) -> dict[str, list[str]]:
    """Field errors of `args`: the list's under `args`, an argument's under `args.<index>`."""
    if len(args) > MAX_MCP_ARGS:
        return {"args": [tr("fields.mcp.args.tooMany", max=MAX_MCP_ARGS)]}
    problems: dict[str, list[str]] = {}
    for index, arg in enumerate(args):
        if len(arg) > MAX_MCP_TEXT:
            problems[f"args.{index}"] = [_at_most(MAX_MCP_TEXT)]
        elif "\x00" in arg:
            problems[f"args.{index}"] = [tr("fields.mcp.args.nul")]
    return problems


def _env_problem(env: Mapping[str, str | None]) -> str | None:
    if len(env) > MAX_MCP_ENV:
        return tr("fields.mcp.env.tooMany", max=MAX_MCP_ENV)
    for name, value in env.items():
        if len(name) > 256 or not ENV_NAME_RE.fullmatch(name):
            return tr("fields.mcp.env.badName")
        if value is not None and len(value) > MAX_MCP_VALUE:
            return tr("fields.mcp.valueTooLong", name=name, max=f"{MAX_MCP_VALUE:,}")
        if value is not None and "\x00" in value:
            return tr("fields.mcp.env.nul", name=name)
    return None


def _mcp_headers_problem(headers: Mapping[str, str | None]) -> str | None:
    if len(headers) > MAX_HEADERS:
        return tr("fields.headers.tooMany", max=MAX_HEADERS)
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if not TOKEN_RE.fullmatch(name):
            return tr("fields.headers.badName")
        if lower in FORBIDDEN_HEADERS or lower in MCP_OWN_HEADERS:
            return tr("fields.headers.reserved", name=name)
        if lower in seen:
            return tr("fields.headers.twice", name=name)
        if value is not None and any(c in value for c in "\r\n\x00"):
            return tr("fields.headers.lineBreaks", name=name)
        if value is not None and len(value) > MAX_MCP_VALUE:
            return tr("fields.mcp.valueTooLong", name=name, max=f"{MAX_MCP_VALUE:,}")
        seen.add(lower)
    return None


def _mcp_url_problem(url: str) -> str | None:
    return _http_url_problem(url, _MCP_URL_PROBLEMS)


def _transport_problems(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """What the chosen transport needs (stdio: a command; http: a URL) and takes no part of
    the other one (a stdio server has no URL or headers, an HTTP one no command, args or env)."""
    transport = data.get("transport")
    problems: dict[str, list[str]] = {}
    if transport == "stdio":
        if not data.get("command"):
            problems["command"] = [tr("fields.mcp.command.needed")]
        if data.get("url") is not None:
            problems["url"] = [tr("fields.mcp.stdioOnly.url")]
        if data.get("headers"):
            problems["headers"] = [tr("fields.mcp.stdioOnly.headers")]
    elif transport == "http":
        if not data.get("url"):
            problems["url"] = [tr("fields.mcp.url.needed")]
        if data.get("command") is not None:
            problems["command"] = [tr("fields.mcp.httpOnly.command")]
        if data.get("args"):
            problems["args"] = [tr("fields.mcp.httpOnly.args")]
        if data.get("env"):
            problems["env"] = [tr("fields.mcp.httpOnly.env")]
    return problems


_MCP_SERVER_SCHEMA = McpServerSchema()
_STDIO_FIELDS = ("command", "args", "env")
_HTTP_FIELDS = ("url", "headers")


def load_mcp_server(data: Any, *, what: str = "mcp server") -> dict[str, Any]:
    """Validate a whole MCP server; return it with every field present (stdio: `url` None and
    `headers` empty; http: `command` None, `args` and `env` empty; `enabled` true and
    `timeoutSeconds` 60 unless given)."""
    raw = _text_fields_object(data, what)
    try:
        loaded: dict[str, Any] = _MCP_SERVER_SCHEMA.load(dict(raw))
    except ValidationError as err:
        raise _invalid(err, what, MCP_READ_ONLY) from None
    stdio = loaded["transport"] == "stdio"
    loaded["command"] = loaded.get("command") if stdio else None
    loaded["args"] = list(loaded.get("args") or []) if stdio else []
    loaded["env"] = dict(loaded.get("env") or {}) if stdio else {}
    loaded["url"] = None if stdio else loaded.get("url")
    loaded["headers"] = {} if stdio else dict(loaded.get("headers") or {})
    loaded.setdefault("enabled", True)
    loaded.setdefault("timeoutSeconds", 60)
    return loaded


def merge_mcp_update(current: Mapping[str, Any], updates: Any) -> dict[str, Any]:
    """Apply partial `updates` to a stored server's fields (as `load_mcp_server` gives them,
    `env` and `headers` values null) and validate the result. A new `transport` drops the
    other transport's fields the update does not give."""
    changes = _require_object(updates, "update")
    merged = dict(current)
    if "transport" in changes and changes["transport"] != current.get("transport"):
        for name in (*_STDIO_FIELDS, *_HTTP_FIELDS):
            merged.pop(name, None)
    merged.update(changes)
    return load_mcp_server(merged, what="update")


class ToolPolicySchema(AppSchema):
    class Meta:
        unknown = RAISE

    enabled = Boolean(truthy={True}, falsy={False})
    approval = String(validate=OneOf(MCP_APPROVALS))


def load_tool_policy(policy: Any) -> dict[str, Any]:
    """`setMcpToolPolicy`'s `{enabled?, approval?}`."""
    return load_options(ToolPolicySchema, _require_object(policy, "tool policy"), "tool policy")


def load_tool_name(value: Any) -> str:
    """A tool's name as its server lists it (field error naming `toolName`)."""
    if type(value) is str and 1 <= len(value) <= MAX_TOOL_NAME and _is_text(value):
        return value
    problem = tr("fields.mcp.toolName", max=f"{MAX_TOOL_NAME:,}")
    raise InvalidConfig(problem, fields={"toolName": [problem]})
