"""What to try for a pasted address: reading what the user pasted, and the probes worth sending.

Pure (no I/O). `read_request` checks `{url, apiKey?}` and reads the URL the way people paste
it: a bare host (api.deepseek.com, `localhost:11434`), a base URL with or without `/v1`, a full
`…/chat/completions`, `…/v1/messages` or `…/models` URL, a vendor's documentation page. `plan`
turns that into `Probe`s: GETs of model lists (never a completion), each marked with whether the
key goes with it. The key goes only to the origin (scheme, host, port) the user typed; a
documentation page maps to a template whose API is elsewhere, which is probed without it.

The base URLs tried for a typed address, closest first (`Probe.distance`): the address as
typed (endpoint suffix removed), with `/v1` added when it has no version segment, the path up to
its version segment when it goes on past it, the address without a trailing `/v1` (servers
such as Perplexity's have none), and the base URL of a template on the same host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit, urlunsplit

from backend.errors import InvalidConfig
from backend.i18n import tr
from backend.models import ProviderConfig, ProviderType, default_auth
from backend.providers.wire.anthropic import AnthropicAdapter
from backend.providers.wire.base import USER_AGENT, HttpCall
from backend.providers.wire.openai import OpenAIAdapter

MAX_URL = 2048
MAX_KEY = 4096
OPENAI: ProviderType = "openai-compatible"
ANTHROPIC: ProviderType = "anthropic-compatible"

# What a probe asks: an OpenAI model list (`{base}/models`, bearer key), an Anthropic one
# (`{base}/v1/models`, `x-api-key` and `anthropic-version`), or Ollama's own (`/api/tags`).
Kind = Literal["openai", "anthropic", "ollama"]
KINDS: tuple[Kind, ...] = ("openai", "anthropic", "ollama")
_KIND_OF_TYPE: dict[str, Kind] = {OPENAI: "openai", ANTHROPIC: "anthropic"}

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta)\d*)?$")
# Endpoint suffixes people paste, longest first, and the type each one speaks.
_SUFFIXES: tuple[tuple[str, ProviderType | None], ...] = (
    ("/chat/completions", OPENAI),
    ("/completions", OPENAI),
    ("/responses", OPENAI),
    ("/embeddings", OPENAI),
    ("/messages", ANTHROPIC),
    ("/models", None),
    ("/api/tags", OPENAI),  # Ollama's own API: its OpenAI-compatible one is what we use
    ("/api/chat", OPENAI),
    ("/api/generate", OPENAI),
)
# Sites that host many projects' pages: a documentation URL there matches on two path segments.
_SHARED_SITES = frozenset({"github.com", "huggingface.co", "help.aliyun.com"})
_DEFAULT_PORT = {"http": 80, "https": 443}
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Pasted:
    """The pasted address, read: scheme (given or inferred), host, port, path, and what its
    endpoint suffix (if any) says about the type."""

    scheme: str
    host: str  # lower case; an IPv6 address without brackets
    port: int | None
    path: str  # no trailing slash, no endpoint suffix, no query or fragment
    typed_type: ProviderType | None = None
    raw_path: str = ""  # as pasted (trailing slash removed): for documentation URLs

    @property
    def origin(self) -> str:
        """`scheme://host[:port]`, as typed."""
        return _origin(self.scheme, self.host, self.port)


@dataclass(frozen=True)
class Probe:
    """One GET of a model list; `shown` is its URL as answers and evidence show it."""

    kind: Kind
    call: HttpCall
    shown: str
    distance: int  # 0: the address as typed; larger: further from it
    key_sent: bool
    template: str | None = None  # the template this probe is for (documentation or host)


@dataclass
class Plan:
    """The probes for one pasted address, and what the paste told on its own."""

    pasted: Pasted
    probes: list[Probe] = field(default_factory=list)
    docs_of: list[Mapping[str, Any]] = field(default_factory=list)  # templates of a docs URL


def read_request(request: Any) -> tuple[Pasted, str | None]:
    """The pasted address and the key (None: none given) of `{url, apiKey?}`, or
    INVALID_CONFIG naming the field."""
    if not isinstance(request, Mapping):
        problem = tr("fields.notObject")
        raise InvalidConfig(
            tr("detect.invalidRequest", problem=problem), fields={"_schema": [problem]}
        )
    unknown = [name for name in request if name not in ("url", "apiKey")]
    if unknown:
        _refuse(str(unknown[0]), tr("fields.unknown"))
    return read_url(request.get("url")), _read_key(request.get("apiKey"))


def read_url(value: Any) -> Pasted:
    """A pasted address, read; INVALID_CONFIG naming the field `url` when it cannot be one."""
    if not isinstance(value, str) or not value.strip():
        _refuse("url", tr("detect.field.urlMissing"))
    text = value.strip()
    if len(text) > MAX_URL:
        _refuse("url", tr("fields.atMostCharacters", max=f"{MAX_URL:,}"))
    if any(c.isspace() or not c.isprintable() for c in text):
        _refuse("url", tr("fields.baseUrl.spaces"))
    if not _SCHEME.match(text):
        text = "//" + text.lstrip("/")  # no scheme: chosen below from the host
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        _refuse("url", tr("detect.field.notWeb"))
    if parts.username is not None or parts.password is not None:
        _refuse("url", tr("fields.baseUrl.credentials"))
    scheme = parts.scheme.lower() or ("http" if is_local(host) else "https")
    if scheme not in _DEFAULT_PORT:
        _refuse("url", tr("fields.baseUrl.notHttp"))
    if not host or not _plausible_host(host):
        _refuse("url", tr("detect.field.notWeb"))
    raw = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    path, typed = _strip_endpoint(raw)
    return Pasted(scheme, host, port, path, typed, raw)


def is_local(host: str) -> bool:
    """Whether `host` is on this computer or the local network (spoken to over plain http
    when no scheme was typed): loopback and private addresses, `localhost`, `*.local`, and
    single-label names such as a NAS's."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith((".localhost", ".local")) or "." not in host
    return address.is_loopback or address.is_private or address.is_link_local


def plan(
    pasted: Pasted,
    api_key: str | None,
    templates: Sequence[Mapping[str, Any]],
) -> Plan:
    """The probes for `pasted`, closest to what was typed first (see the module docstring)."""
    result = Plan(pasted)
    docs = [t for t in templates if _is_docs_of(pasted, t) and not _placeholders(t)]
    same_host = [t for t in templates if _api_on(pasted, t) and not _placeholders(t)]
    forms: list[tuple[str, int, tuple[Kind, ...], str | None]] = []
    if docs:
        result.docs_of = docs  # a documentation page: only its templates' APIs are tried
    else:
        forms += [(pasted.origin + p, d, KINDS, None) for p, d in _paths(pasted.path)]
    for template in [*same_host, *docs]:
        kind = _KIND_OF_TYPE.get(template["type"], "openai")
        forms.append((str(template["baseURL"]).rstrip("/"), 3, (kind,), str(template["id"])))
    seen: dict[tuple[Kind, str], int] = {}
    for base, distance, kinds, template_id in forms:
        key_sent = api_key is not None and _same_origin(base, pasted)
        for kind in kinds:
            probe = _probe(kind, base, api_key if key_sent else None, distance, template_id)
            at = seen.get((kind, probe.shown))
            if at is None:
                seen[(kind, probe.shown)] = len(result.probes)
                result.probes.append(probe)
            elif probe.distance < result.probes[at].distance:
                result.probes[at] = probe
    return result


def without_version(base: str) -> str:
    """`base` without a trailing `/v1` (an Anthropic base URL, Ollama's root)."""
    return base[: -len("/v1")] if base.endswith("/v1") else base


def is_versioned(base: str) -> bool:
    """Whether the last path segment of `base` is a version (`v1`, `v4`, `v1beta`)."""
    return bool(_VERSION.match(urlsplit(base).path.rsplit("/", 1)[-1]))


def scratch_config(provider_type: ProviderType, base: str) -> ProviderConfig:
    """A provider config that is never saved: for building probes and its `requestURL`."""
    return ProviderConfig(
        id="",
        name="detected",
        display_name="",
        base_url=base,
        model="",
        type=provider_type,
        auth=default_auth(provider_type),
    )


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of `url`, the port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORT.get(scheme, 0)


def same_place(a: str, b: str) -> bool:
    """Whether two URLs are on the same origin, `localhost` and `127.0.0.1` alike."""
    (scheme_a, host_a, port_a), (scheme_b, host_b, port_b) = origin_of(a), origin_of(b)
    if host_a in _LOOPBACK_NAMES and host_b in _LOOPBACK_NAMES:
        host_a = host_b
    return (scheme_a, host_a, port_a) == (scheme_b, host_b, port_b)


# --- reading -------------------------------------------------------------------------------


def _refuse(name: str, problem: str) -> NoReturn:
    raise InvalidConfig(tr("detect.invalid", field=name, problem=problem), fields={name: [problem]})


def _read_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        _refuse("apiKey", tr("fields.apiKey.notText"))
    if len(value) > MAX_KEY:
        _refuse("apiKey", tr("fields.atMostCharacters", max=f"{MAX_KEY:,}"))
    if not value.isprintable():
        _refuse("apiKey", tr("fields.apiKey.printable"))
    if value != value.strip():
        _refuse("apiKey", tr("fields.apiKey.spaces"))
    return value


def _plausible_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?", host)) and ".." not in host


def _strip_endpoint(path: str) -> tuple[str, ProviderType | None]:
    lower = path.lower()
    for suffix, typed in _SUFFIXES:
        if lower.endswith(suffix):
            return path[: -len(suffix)], typed
    return path, None


def _paths(path: str) -> list[tuple[str, int]]:
    """The base paths worth trying for a typed path, with their distance from it."""
    segments = [s for s in path.split("/") if s]
    found: list[tuple[str, int]] = [(path, 0)]
    versions = [i for i, s in enumerate(segments) if _VERSION.match(s.lower())]
    if not versions:
        found.append((path + "/v1", 1))
    elif versions[0] < len(segments) - 1:
        found.append(("/" + "/".join(segments[: versions[0] + 1]), 1))
    if segments and segments[-1].lower() == "v1":
        found.append((path[: -len("/v1")], 2))
    return found


# --- templates -------------------------------------------------------------------------------


def _placeholders(template: Mapping[str, Any]) -> bool:
    return "{" in str(template.get("baseURL", ""))


def _api_on(pasted: Pasted, template: Mapping[str, Any]) -> bool:
    """Whether a template's API is on the host the user typed (on its port, if one was typed;
    `http://` typed for an `https://` API still finds it, probed without the key)."""
    url = str(template.get("baseURL", ""))
    if pasted.port is None:
        return (urlsplit(url).hostname or "").lower() == pasted.host
    return same_place(url, pasted.origin)


def _is_docs_of(pasted: Pasted, template: Mapping[str, Any]) -> bool:
    """Whether the pasted address is a page of a template's documentation: on its host and,
    unless the host is a documentation site (`docs.…`), under its first path segment (two on
    sites shared by many projects)."""
    docs = urlsplit(str(template.get("docsURL", "")))
    if (docs.hostname or "").lower() != pasted.host or docs.port != pasted.port:
        return False
    if any(label.endswith("docs") for label in pasted.host.split(".")[:1]):
        return True
    wanted = [s for s in docs.path.lower().split("/") if s]
    wanted = wanted[: 2 if pasted.host in _SHARED_SITES else 1]
    typed = [s for s in pasted.raw_path.lower().split("/") if s]
    return typed[: len(wanted)] == wanted


def _same_origin(url: str, pasted: Pasted) -> bool:
    return origin_of(url) == origin_of(pasted.origin)


def _origin(scheme: str, host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return urlunsplit((scheme, f"{shown}:{port}" if port else shown, "", "", ""))


# --- probes ----------------------------------------------------------------------------------

_OPENAI = OpenAIAdapter()
_ANTHROPIC = AnthropicAdapter()


def _probe(
    kind: Kind, base: str, api_key: str | None, distance: int, template: str | None
) -> Probe:
    if kind == "ollama":
        url = without_version(base) + "/api/tags"
        headers = {"user-agent": USER_AGENT, "accept": "application/json"}
        call = HttpCall("GET", url, headers)  # a local server: no key
        return Probe(kind, call, url, distance, False, template)
    if kind == "anthropic":
        config = scratch_config(ANTHROPIC, without_version(base))
        call = _ANTHROPIC.models_call(config, api_key)
    else:
        call = _OPENAI.models_call(scratch_config(OPENAI, base), api_key)
    shown = urlunsplit(urlsplit(call.url)._replace(query="", fragment=""))
    return Probe(kind, call, shown, distance, api_key is not None, template)
