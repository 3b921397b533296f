"""The provider export file (docs/API.md, "Export file"): building it, and reading it back safely.

The file is UTF-8 JSON::

    {"format": "miaoda-chat/custom-providers", "version": 2, "exportedAt": "…",
     "providers": [...], "routes": [...], "mcpServers": [...], "secrets": null | {...}}

`routes` (written since version 2; optional on import, in any version) holds
`{name, displayName, strategy, members: [provider names]}` objects and carries no secret.
`mcpServers` (written since MCP servers exist, still version 2; optional on import) holds
`{name, displayName, transport, command, args, url, env, headers, enabled, timeoutSeconds}`
objects whose `env` and `headers` name their entries with null values: the values are secrets.

API keys are only ever written encrypted. `secrets` then holds::

    {"kdf": "scrypt", "salt": <16 random bytes>, "n": 32768, "r": 8, "p": 1,
     "cipher": "AES-256-GCM", "nonce": <12 random bytes>, "ciphertext": <ciphertext + tag>}

with binary fields in standard base64 (with padding). The 32-byte AES key is scrypt of the
passphrase (NFC-normalized, UTF-8) with that salt and those parameters. The plaintext is the
JSON object `{"<provider name>": {"apiKeys": ["…", …], "headers": {"<header>": "<value>"}}}`:
every key of the provider's pool and its credential header values; beside them, one
`"mcp:<server name>": {"env": {...}, "headers": {...}}` entry per MCP server with values (a
provider name never holds a colon). Version 1 files, still
read, hold `{"<provider name>": "<apiKey>"}` plus `"<provider name>\n<header name>"` entries
for header values instead; both come out of `read_export` as `ProviderSecrets`. The AES-GCM
associated data is the ASCII text `miaoda-chat/custom-providers v<version>`, a newline, and
the compact JSON list of `[name, baseURL]` pairs of every provider in the file, sorted. So the
ciphertext is bound to this format and version and to the endpoints its keys were exported for:
a file whose provider names or base URLs were edited after export cannot send a key to a server
it was not given for (decryption fails). When `mcpServers` is a non-empty list, a second newline
and the compact JSON list of `[name, transport, url, command, args]` of each of its objects
(the values as the file has them, a missing one null) follow, sorted by each entry's own compact
JSON text: an MCP server's values cannot be sent to another URL or program either. A file
without MCP servers has exactly the associated data it always had, so every earlier file still
decrypts.
Other fields (model, parameters, display names, an MCP server's enabled and timeout) may still
be edited by hand.

Only the envelope is checked here; each provider, route and MCP server object is validated by
the manager (MCP servers by `backend.tools`). Reading is defensive: any input at all either
yields an `ImportFile` or raises a `MiaodaError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from backend.errors import DecryptFailed, ImportInvalid, InternalError, InvalidConfig
from backend.i18n import tr
from backend.models import utc_now

FORMAT = "miaoda-chat/custom-providers"
VERSION = 2
"""The version written; every version from 1 up to it is read."""
HEADER_SEPARATOR = "\n"
"""In a version 1 file's secrets, a credential header is `<provider name>\n<header name>`."""
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_PROVIDERS = 1000
MAX_IMPORT_ROUTES = 1000
MAX_IMPORT_MCP_SERVERS = 1000
MCP_PREFIX = "mcp:"
"""In the decrypted secrets, an MCP server's values are under `mcp:<server name>`."""
PASSPHRASE_MIN = 8
PASSPHRASE_MAX = 1024

SCRYPT_N = 32768
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_BYTES = 32
_SECRETS_FIELDS = frozenset({"kdf", "salt", "n", "r", "p", "cipher", "nonce", "ciphertext"})
# Bounds on parameters read from a file, so a crafted one cannot make the KDF eat gigabytes
# or minutes: scrypt needs 128 * n * r bytes and runs p times over them. The memory cap is
# twice what our own exports use (128 * SCRYPT_N * SCRYPT_R = 32 MiB).
_N_MIN, _N_MAX = 2**14, 2**20
_R_MAX, _P_MAX = 16, 4
_SCRYPT_MAX_MEMORY = 64 * 1024 * 1024
# One scrypt derivation at a time in the whole process: concurrent imports (and exports)
# queue here instead of each holding up to _SCRYPT_MAX_MEMORY at once.
_KDF_LOCK = threading.Lock()
# A provider is at most five levels deep; anything far deeper is not an export, and a cap
# keeps later recursive code (validation, re-serializing) clear of Python's recursion limit.
_MAX_DEPTH = 32


@dataclass(frozen=True)
class ProviderSecrets:
    """What the encrypted block holds for one provider: its keys in order, its header values."""

    api_keys: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class McpSecrets:
    """What the encrypted block holds for one MCP server: its `env` and `headers` values."""

    env: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportSource:
    """The other app a file came from (`backend.foreign`): its id, its product name, and the
    version of its format the file says it is, when it says one."""

    app: str
    app_name: str
    format_version: str | None = None

    def to_wire(self) -> dict[str, str | None]:
        return {"app": self.app, "appName": self.app_name, "formatVersion": self.format_version}


@dataclass(frozen=True)
class ImportFile:
    """A parsed import file: providers, routes and MCP servers still to be validated, and the
    decrypted keys if any (`mcp_secrets`: each MCP server's values by its name in the file). A
    file of another app (`backend.foreign`) also says where it came from (`source`, None for
    our own export) and what of it could not be brought over (`unsupported`: one
    `{"name", "reason"}` object per entry, in the file's order)."""

    providers: list[Any]
    secrets: dict[str, ProviderSecrets] | None
    exported_at: str | None
    routes: list[Any] = field(default_factory=list)
    source: ImportSource | None = None
    unsupported: list[dict[str, str]] = field(default_factory=list)
    mcp_servers: list[Any] = field(default_factory=list)
    mcp_secrets: dict[str, McpSecrets] = field(default_factory=dict)


def build_export(
    providers: Sequence[Mapping[str, Any]],
    keys: Mapping[str, ProviderSecrets | str] | None = None,
    passphrase: str | None = None,
    *,
    exported_at: str | None = None,
    routes: Sequence[Mapping[str, Any]] = (),
    mcp_servers: Sequence[Mapping[str, Any]] = (),
    mcp_keys: Mapping[str, McpSecrets] | None = None,
) -> str:
    """The export file's text; `keys` (name → its secrets, or one key's text) and `mcp_keys`
    (MCP server name → its values) are written only encrypted, `routes` name their members by
    provider name, `mcp_servers` carry their `env` and `headers` names with null values."""
    secrets: dict[str, Any] | None = None
    if keys or mcp_keys:
        if passphrase is None:
            raise InvalidConfig(
                tr("transfer.keysNeedPassphrase"),
                fields={"passphrase": [tr("transfer.keysNeedPassphraseField")]},
            )
        secrets = _encrypt_keys(
            _secrets_payload(keys or {}, mcp_keys or {}),
            _passphrase_bytes_for_export(passphrase),
            _associated_data(providers, VERSION, mcp_servers),
        )
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": exported_at or utc_now(),
        "providers": [dict(provider) for provider in providers],
        "routes": [dict(route) for route in routes],
        "mcpServers": [_without_values(server) for server in mcp_servers],
        "secrets": secrets,
    }
    try:
        text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        text.encode("utf-8")  # fails now, not when saving, on text no file can hold
    except (TypeError, ValueError) as exc:
        raise InternalError(tr("transfer.cannotExport")) from exc
    return text


def read_export(content: str | bytes, passphrase: str | None = None) -> ImportFile:
    """Parse and check an export file, decrypting its keys with `passphrase` if it has any."""
    document = parse_json(_to_bytes(content))
    if not isinstance(document, dict):
        raise ImportInvalid()
    if document.get("format") != FORMAT:
        raise ImportInvalid(fields={"format": [tr("transfer.expected", value=repr(FORMAT))]})
    version = _check_version(document.get("version"))
    providers = _bounded_list(document.get("providers"), "providers", _PROVIDER_LIST)
    routes = (
        _bounded_list(document["routes"], "routes", _ROUTE_LIST) if "routes" in document else []
    )
    mcp_servers = (
        _bounded_list(document["mcpServers"], "mcpServers", _MCP_LIST)
        if "mcpServers" in document
        else []
    )
    aad = _associated_data(providers, version, mcp_servers)
    secrets = _read_secrets(document.get("secrets"), passphrase, aad, version)
    exported_at = document.get("exportedAt")
    # Informational only: a strange value is dropped rather than failing the import.
    if not isinstance(exported_at, str) or len(exported_at) > 64:
        exported_at = None
    provider_secrets, mcp_secrets = (None, {}) if secrets is None else secrets
    return ImportFile(
        providers=providers,
        secrets=provider_secrets,
        exported_at=exported_at,
        routes=routes,
        mcp_servers=mcp_servers,
        mcp_secrets=mcp_secrets,
    )


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ListRule:
    """How many entries a list of the file may hold, and what to say when it is not one."""

    most: int
    not_list: str
    too_many: str
    at_most: str


_PROVIDER_LIST = _ListRule(
    MAX_IMPORT_PROVIDERS,
    "transfer.noProviderList",
    "transfer.tooManyProviders",
    "transfer.atMostProviders",
)
_ROUTE_LIST = _ListRule(
    MAX_IMPORT_ROUTES, "transfer.routesNotList", "transfer.tooManyRoutes", "transfer.atMostRoutes"
)
_MCP_LIST = _ListRule(
    MAX_IMPORT_MCP_SERVERS,
    "transfer.mcpServersNotList",
    "transfer.tooManyMcpServers",
    "transfer.atMostMcpServers",
)


def _bounded_list(value: object, field_name: str, rule: _ListRule) -> list[Any]:
    """The file's `field_name` list (entries still to be validated), or ImportInvalid."""
    if not isinstance(value, list):
        raise ImportInvalid(tr(rule.not_list), fields={field_name: [tr("transfer.expectedList")]})
    if len(value) > rule.most:
        most = f"{rule.most:,}"
        raise ImportInvalid(
            tr(rule.too_many, count=f"{len(value):,}", max=most),
            fields={field_name: [tr(rule.at_most, max=most)]},
        )
    return value


def _to_bytes(content: object) -> bytes:
    if isinstance(content, str):
        # A str is never shorter in characters than in UTF-8 bytes: reject huge ones unencoded.
        if len(content) > MAX_IMPORT_BYTES:
            raise _too_large()
        try:
            raw = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ImportInvalid(tr("transfer.notValidUtf8")) from exc
    elif isinstance(content, bytes | bytearray | memoryview):
        raw = bytes(content)
    else:
        raise ImportInvalid(tr("transfer.contentNotText"))
    if len(raw) > MAX_IMPORT_BYTES:
        raise _too_large()
    return raw


def _too_large() -> ImportInvalid:
    return ImportInvalid(tr("transfer.tooLarge", size=MAX_IMPORT_BYTES // (1024 * 1024)))


def parse_json(raw: bytes) -> Any:
    """UTF-8 JSON (a byte order mark allowed) without NaN or infinities, at most 32 levels
    deep, or ImportInvalid saying which rule it broke. No size check: callers cap `raw`."""
    try:
        text = raw.decode("utf-8-sig")  # tolerates the byte order mark some editors add
    except UnicodeDecodeError as exc:
        raise ImportInvalid(tr("transfer.notUtf8")) from exc
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise _too_deep() from exc
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, over-long integers
        raise ImportInvalid(tr("transfer.notJson")) from exc
    _check_depth(document)
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep() -> ImportInvalid:
    return ImportInvalid(tr("transfer.tooDeep"))


def _check_depth(document: Any) -> None:
    # Iterative, so a check for deep nesting cannot itself hit the recursion limit.
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


def _check_version(version: Any) -> int:
    if isinstance(version, int) and not isinstance(version, bool):
        if 1 <= version <= VERSION:
            return version
        if version > VERSION:
            raise ImportInvalid(
                tr("transfer.newerVersion"),
                fields={"version": [tr("transfer.newerVersionField", version=VERSION)]},
            )
    raise ImportInvalid(
        tr("transfer.unknownVersion"),
        fields={"version": [tr("transfer.expectedOneTo", max=VERSION)]},
    )


_MCP_BOUND = ("name", "transport", "url", "command", "args")
"""What of an MCP server the associated data binds: where its values are sent."""


def _associated_data(
    providers: Sequence[Any], version: int, mcp_servers: Sequence[Any] = ()
) -> bytes:
    """AES-GCM associated data: the format, every provider's name and base URL, and (only
    when the file has MCP servers) where each MCP server's values go."""
    pairs = sorted(
        [p["name"], p["baseURL"]]
        for p in providers
        if isinstance(p, Mapping)
        and isinstance(p.get("name"), str)
        and isinstance(p.get("baseURL"), str)
    )
    head = f"{FORMAT} v{version}".encode("ascii")
    aad = head + b"\n" + _compact(pairs).encode("ascii")
    if mcp_servers:
        bound = sorted(
            _compact([server.get(name) for name in _MCP_BOUND])
            for server in mcp_servers
            if isinstance(server, Mapping)
        )
        aad += b"\n" + f"[{','.join(bound)}]".encode("ascii")
    return aad


def _compact(value: Any) -> str:
    """JSON with no spaces and every non-ASCII character escaped, as the associated data has it."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _read_secrets(
    block: Any, passphrase: str | None, aad: bytes, version: int
) -> tuple[dict[str, ProviderSecrets], dict[str, McpSecrets]] | None:
    if block is None:
        return None
    if not isinstance(block, dict):
        raise _bad_secrets("secrets", tr("transfer.secrets.expectedObject"))
    missing = sorted(_SECRETS_FIELDS - block.keys())
    extra = sorted(block.keys() - _SECRETS_FIELDS)
    if missing or extra:
        problems = {f"secrets.{name}": [tr("transfer.secrets.missing")] for name in missing}
        extras = {f"secrets.{name}": [tr("transfer.secrets.notInFormat")] for name in extra}
        raise ImportInvalid(tr("transfer.secrets.bad"), fields={**problems, **extras})
    if block["kdf"] != "scrypt":
        raise _bad_secrets("secrets.kdf", tr("transfer.expected", value="'scrypt'"))
    if block["cipher"] != "AES-256-GCM":
        raise _bad_secrets("secrets.cipher", tr("transfer.expected", value="'AES-256-GCM'"))
    n, r, p = _scrypt_params(block)
    salt = _b64_field(block, "salt", 16, 64)
    nonce = _b64_field(block, "nonce", _NONCE_BYTES, _NONCE_BYTES)
    ciphertext = _b64_field(block, "ciphertext", _TAG_BYTES, MAX_IMPORT_BYTES)
    if not passphrase:
        hint = tr("transfer.needsPassphrase")
        raise DecryptFailed(hint, fields={"passphrase": [hint]})
    key = _derive_for_import(_passphrase_bytes_for_import(passphrase), salt, n, r, p)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise DecryptFailed() from exc
    decoded = _decoded_json(plaintext)
    return (_version_1_secrets(decoded), {}) if version == 1 else _version_2_secrets(decoded)


def _bad_secrets(path: str, problem: str) -> ImportInvalid:
    return ImportInvalid(tr("transfer.secrets.bad"), fields={path: [problem]})


def _scrypt_params(block: Mapping[str, Any]) -> tuple[int, int, int]:
    values = {name: block[name] for name in ("n", "r", "p")}
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad_secrets(f"secrets.{name}", tr("transfer.secrets.wholeNumber"))
    n, r, p = values["n"], values["r"], values["p"]
    if not (_N_MIN <= n <= _N_MAX and n & (n - 1) == 0):
        problem = tr("transfer.secrets.powerOfTwo", min=_N_MIN, max=_N_MAX)
        raise _bad_secrets("secrets.n", problem)
    if not 1 <= r <= _R_MAX:
        raise _bad_secrets("secrets.r", tr("transfer.expectedOneTo", max=_R_MAX))
    if not 1 <= p <= _P_MAX:
        raise _bad_secrets("secrets.p", tr("transfer.expectedOneTo", max=_P_MAX))
    # scrypt itself requires n < 2^(16r).
    if n >= 2 ** (16 * r):
        raise _bad_secrets("secrets.n", tr("transfer.secrets.belowLimit", r=r))
    # The memory cap keeps a crafted file from asking for hundreds of megabytes within the
    # per-parameter bounds; it is checked before anything is derived.
    if 128 * n * r > _SCRYPT_MAX_MEMORY:
        mib = _SCRYPT_MAX_MEMORY // (1024 * 1024)
        need = 128 * n * r // (1024 * 1024)
        problem = tr("transfer.secrets.memory", need=need, max=mib)
        raise ImportInvalid(
            tr("transfer.secrets.bad"), fields={"secrets.n": [problem], "secrets.r": [problem]}
        )
    return n, r, p


def _b64_field(block: Mapping[str, Any], name: str, min_len: int, max_len: int) -> bytes:
    value = block[name]
    if not isinstance(value, str):
        raise _bad_secrets(f"secrets.{name}", tr("transfer.secrets.base64"))
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_secrets(f"secrets.{name}", tr("transfer.secrets.base64")) from exc
    if not min_len <= len(decoded) <= max_len:
        problem = (
            tr("transfer.secrets.bytes", size=min_len)
            if min_len == max_len
            else tr("transfer.secrets.bytesBetween", min=min_len, max=max_len)
        )
        raise _bad_secrets(f"secrets.{name}", problem)
    return decoded


def _decoded_json(plaintext: bytes) -> Any:
    try:
        return json.loads(plaintext.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad_secrets("secrets", tr("transfer.secrets.notObject")) from exc


def _version_1_secrets(keys: Any) -> dict[str, ProviderSecrets]:
    """`{"<name>": "<apiKey>", "<name>\n<header>": "<value>"}` as ProviderSecrets by name."""
    if not isinstance(keys, dict) or not all(
        isinstance(name, str) and isinstance(key, str) for name, key in keys.items()
    ):
        raise _bad_secrets("secrets", tr("transfer.secrets.version1Shape"))
    found: dict[str, tuple[list[str], dict[str, str]]] = {}
    for name, value in keys.items():
        provider, separator, header = name.partition(HEADER_SEPARATOR)
        api_keys, headers = found.setdefault(provider, ([], {}))
        if separator:
            headers[header] = value
        else:
            api_keys.append(value)
    return {name: ProviderSecrets(tuple(k), h) for name, (k, h) in found.items()}


def _version_2_secrets(
    secrets: Any,
) -> tuple[dict[str, ProviderSecrets], dict[str, McpSecrets]]:
    """`{"<name>": {"apiKeys": [...], "headers": {...}}}` as ProviderSecrets by name, and
    `{"mcp:<name>": {"env": {...}, "headers": {...}}}` as McpSecrets by server name."""
    wrong = _bad_secrets("secrets", tr("transfer.secrets.version2Shape"))
    if not isinstance(secrets, dict):
        raise wrong
    found: dict[str, ProviderSecrets] = {}
    servers: dict[str, McpSecrets] = {}
    for name, entry in secrets.items():
        if name.startswith(MCP_PREFIX):
            server = name[len(MCP_PREFIX) :]
            servers[server] = _mcp_secrets(server, entry)
            continue
        if not isinstance(entry, dict) or not set(entry) <= {"apiKeys", "headers"}:
            raise wrong
        api_keys, headers = entry.get("apiKeys", []), entry.get("headers", {})
        if not isinstance(api_keys, list) or not all(isinstance(k, str) for k in api_keys):
            raise wrong
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise wrong
        found[name] = ProviderSecrets(tuple(api_keys), dict(headers))
    return found, servers


def _mcp_secrets(server: str, entry: Any) -> McpSecrets:
    """One `mcp:<name>` entry of the decrypted secrets: text values by name, or IMPORT_INVALID."""
    if (
        not isinstance(entry, dict)
        or not set(entry) <= {"env", "headers"}
        or not all(
            isinstance(values, dict) and all(isinstance(value, str) for value in values.values())
            for values in entry.values()
        )
    ):
        raise _bad_secrets("secrets", tr("transfer.secrets.mcpShape", name=server))
    return McpSecrets(dict(entry.get("env", {})), dict(entry.get("headers", {})))


def _secrets_payload(
    keys: Mapping[str, ProviderSecrets | str], mcp_keys: Mapping[str, McpSecrets]
) -> dict[str, Any]:
    """The plaintext object of a version 2 secrets block."""
    payload: dict[str, Any] = {}
    for name, secrets in keys.items():
        if isinstance(secrets, str):
            secrets = ProviderSecrets((secrets,))
        payload[name] = {"apiKeys": list(secrets.api_keys), "headers": dict(secrets.headers)}
    for name, values in mcp_keys.items():
        payload[MCP_PREFIX + name] = {"env": dict(values.env), "headers": dict(values.headers)}
    return payload


def _without_values(server: Mapping[str, Any]) -> dict[str, Any]:
    """An MCP server as the file holds it: its `env` and `headers` names, each value null."""
    entry = dict(server)
    for name in ("env", "headers"):
        if isinstance(entry.get(name), Mapping):
            entry[name] = dict.fromkeys(entry[name])
    return entry


# --- encryption --------------------------------------------------------------------------


def _passphrase_bytes_for_export(passphrase: str) -> bytes:
    if not isinstance(passphrase, str) or not PASSPHRASE_MIN <= len(passphrase) <= PASSPHRASE_MAX:
        problem = tr("transfer.passphrase.length", min=PASSPHRASE_MIN, max=f"{PASSPHRASE_MAX:,}")
        raise InvalidConfig(
            tr("transfer.passphrase.invalid", problem=problem), fields={"passphrase": [problem]}
        )
    try:
        return _normalized(passphrase)
    except UnicodeEncodeError as exc:
        problem = tr("transfer.passphrase.encoding")
        raise InvalidConfig(problem, fields={"passphrase": [problem]}) from exc


def _passphrase_bytes_for_import(passphrase: str) -> bytes:
    try:
        return _normalized(passphrase)
    except (TypeError, UnicodeEncodeError) as exc:
        raise DecryptFailed() from exc


def _normalized(passphrase: str) -> bytes:
    # The same passphrase typed on another system may arrive in another Unicode form.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """The scrypt derivation itself; callers hold `_KDF_LOCK` (tests wrap this function)."""
    return Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(secret)


def _derive_for_import(secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    with _KDF_LOCK:
        try:
            return _derive(secret, salt, n, r, p)
        except (ValueError, MemoryError) as exc:  # parameters the OpenSSL build refuses
            raise _bad_secrets("secrets", tr("transfer.secrets.unusable")) from exc


def _encrypt_keys(keys: dict[str, Any], secret: bytes, aad: bytes) -> dict[str, Any]:
    texts = [
        text
        for entry in keys.values()
        for values in (
            entry.get("apiKeys", ()),
            entry.get("env", {}).values(),
            entry["headers"].values(),
        )
        for text in values
    ]
    if not all(isinstance(name, str) for name in keys) or not all(
        isinstance(text, str) for text in texts
    ):
        raise InternalError(tr("transfer.keysNotText"))
    salt = os.urandom(_SALT_BYTES)
    nonce = os.urandom(_NONCE_BYTES)
    with _KDF_LOCK:
        aes_key = _derive(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    # ensure_ascii keeps lone surrogates (possible in text from a browser) encodable.
    plaintext = json.dumps(keys, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    ciphertext = AESGCM(aes_key).encrypt(nonce, plaintext, aad)
    return {
        "kdf": "scrypt",
        "salt": _b64(salt),
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "cipher": "AES-256-GCM",
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
