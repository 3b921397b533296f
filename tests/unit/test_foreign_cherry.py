"""Reading a Cherry Studio backup (backend.foreign.cherry): which files it claims, what each
provider becomes (type, base URL with the app's URL quirks resolved, model, keys), what is
listed as not brought over and why, and how a damaged backup is refused."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import i18n
from backend.errors import ImportInvalid
from backend.foreign import cherry
from backend.foreign.model import ForeignImport
from backend.schemas import load_api_keys, load_provider
from backend.transfer import build_export
from tests.foreign import cherry_files as files
from tests.helpers import CANARY_KEY

ROOT = "localStorage.persist:cherry-studio"


def read_with(providers: list[dict[str, Any]], **llm: Any) -> ForeignImport:
    """Read a backup whose `llm` slice holds `providers` (and any other fields given)."""
    document = files.document()
    store = json.loads(document["localStorage"][files.PERSIST_KEY])
    store["llm"] = json.dumps({"providers": providers, **llm})
    document["localStorage"][files.PERSIST_KEY] = json.dumps(store)
    return cherry.read(document)


def entry(**fields: Any) -> dict[str, Any]:
    """A provider the user added in Cherry Studio, with one model."""
    base = {
        "id": "7d2f9c1e-0a4b-4e8d-b6c5-3f1a2e9d8c7b",
        "name": "Relay",
        "type": "openai",
        "apiKey": "sk-entry-1234567890abcdef",
        "apiHost": "https://relay.example.com",
        "models": [{"id": "gpt-4o-mini", "provider": "x", "name": "gpt-4o-mini", "group": "gpt"}],
        "isSystem": False,
        "enabled": True,
    }
    base.update(fields)
    return base


def only(found: ForeignImport) -> dict[str, Any]:
    assert len(found.providers) == 1, found.unsupported
    return found.providers[0]


def problem_of(exc: pytest.ExceptionInfo[ImportInvalid]) -> dict[str, list[str]]:
    return exc.value.to_dict()["fields"]


@pytest.fixture
def chinese() -> Iterator[None]:
    before = i18n.current_language()
    i18n.set_language("zh-CN")
    yield
    i18n.set_language(before)


# --- which files ----------------------------------------------------------------------------


def test_the_backup_document_is_recognized() -> None:
    assert cherry.recognizes(files.document())


def test_the_zip_backup_holds_data_json_that_is_recognized() -> None:
    with zipfile.ZipFile(io.BytesIO(files.backup())) as archive:
        assert cherry.ZIP_MEMBERS[0] in archive.namelist()
        assert cherry.recognizes(json.loads(archive.read("data.json")))


def test_the_shape_backup_service_writes_is_recognized_even_without_the_store() -> None:
    document = files.document()
    del document["localStorage"][files.PERSIST_KEY]
    assert cherry.recognizes(document)


def test_a_direct_backups_metadata_is_recognized() -> None:
    with zipfile.ZipFile(io.BytesIO(files.direct_backup())) as archive:
        assert "data.json" not in archive.namelist()
        assert cherry.recognizes(json.loads(archive.read("metadata.json")))


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(json.loads(build_export([])), id="our export"),
        pytest.param(
            {"settings": {"providers": {}}, "configs": {}, "__exported_items": ["setting"]},
            id="chatbox",
        ),
        pytest.param(
            {"exportType": "settings", "state": {"settings": {}}, "version": 7}, id="lobe"
        ),
        pytest.param({"time": 1, "version": 5, "localStorage": {}}, id="partial shape"),
        pytest.param({"localStorage": {"persist:other-app": "{}"}}, id="another store"),
        pytest.param({"appName": "Other App", "version": 6}, id="other metadata"),
        pytest.param({"appName": "Cherry Studio", "version": "6"}, id="metadata, text version"),
        pytest.param([{"localStorage": {}}], id="a list"),
        pytest.param("persist:cherry-studio", id="text"),
        pytest.param(None, id="null"),
    ],
)
def test_other_files_are_not_claimed(document: Any) -> None:
    assert not cherry.recognizes(document)


# --- what the backup gives ------------------------------------------------------------------


def test_every_provider_set_up_comes_over_with_the_expected_fields() -> None:
    found = cherry.read(files.document())
    assert {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in found.providers} == (
        files.EXPECTED
    )
    assert found.source == "cherry-studio"
    assert found.app_name == "Cherry Studio"
    assert found.format_version == "5"


def test_every_imported_provider_passes_the_managers_validation() -> None:
    for store_version in (files.STORE_VERSION, 160):
        found = cherry.read(files.document(store_version=store_version))
        for provider in found.providers:
            load_provider(provider)
        for secrets in found.secrets.values():
            if secrets.api_keys:
                load_api_keys(list(secrets.api_keys))


def test_keys_go_to_the_secrets_in_order_without_repeats() -> None:
    found = cherry.read(files.document())
    assert {name: s.api_keys for name, s in found.secrets.items()} == files.expected_keys()


def test_the_canary_key_is_only_in_the_secrets() -> None:
    found = cherry.read(files.document())
    visible = json.dumps([found.providers, [u.to_wire() for u in found.unsupported]])
    assert CANARY_KEY not in visible
    assert found.secrets["deepseek"].api_keys[0] == CANARY_KEY


def test_a_credential_header_is_a_secret_and_the_others_stay_headers() -> None:
    found = cherry.read(files.document())
    relay = next(p for p in found.providers if p["name"] == "my-relay")
    assert relay["headers"] == {"X-Team": "research", "X-Relay-Token": None}
    assert dict(found.secrets["my-relay"].headers) == {"X-Relay-Token": files.RELAY_TOKEN}
    assert files.RELAY_TOKEN not in json.dumps(found.providers)


def test_what_does_not_come_over_is_listed_with_its_reason() -> None:
    found = cherry.read(files.document())
    assert tuple(u.name for u in found.unsupported) == files.EXPECTED_UNSUPPORTED
    reasons = {u.name: u.reason for u in found.unsupported}
    assert "gemini" in reasons["Gemini"]
    assert "API key" in reasons["Github Copilot"]
    assert "no model" in reasons["Empty"]
    assert reasons["5 built-in providers"].endswith(", ".join(files.NOT_SET_UP))


def test_a_store_from_before_cherry_studio_1_7_uses_its_older_url_rules() -> None:
    found = cherry.read(files.document(store_version=160))
    by_name = {p["name"]: p for p in found.providers}
    for name, fields in files.EXPECTED_LEGACY.items():
        assert {k: by_name[name].get(k) for k in fields} == fields, name
    assert by_name["deepseek"]["baseURL"] == files.EXPECTED["deepseek"]["baseURL"]


def test_a_store_without_its_version_uses_the_current_url_rules() -> None:
    document = files.document()
    store = json.loads(document["localStorage"][files.PERSIST_KEY])
    del store["_persist"]
    document["localStorage"][files.PERSIST_KEY] = json.dumps(store)
    by_name = {p["name"]: p for p in cherry.read(document).providers}
    assert by_name["local-vllm"]["baseURL"] == "http://localhost:8000/v1"


def test_unsupported_reasons_are_in_the_apps_language(chinese: None) -> None:
    found = cherry.read(files.document())
    assert found.unsupported[-1].name == "5 个内置服务商"
    assert found.unsupported[-1].reason.startswith("未在原应用中设置")


# --- models, names, keys --------------------------------------------------------------------


def test_the_apps_default_model_is_used_for_its_provider() -> None:
    models = [{"id": m} for m in ("a-small", "a-large")]
    found = read_with(
        [entry(id="p1", models=models)], defaultModel={"id": "a-large", "provider": "p1"}
    )
    assert only(found)["model"] == "a-large"


def test_without_a_default_the_first_model_is_used() -> None:
    models = [{"id": ""}, {"name": "no id"}, {"id": "first"}, {"id": "second"}]
    found = read_with([entry(models=models)], defaultModel={"id": "x", "provider": "other"})
    assert only(found)["model"] == "first"


def test_a_provider_without_a_model_is_listed_not_brought() -> None:
    found = read_with([entry(models=[])])
    assert found.providers == []
    assert [u.name for u in found.unsupported] == ["Relay"]


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("sk-one", ("sk-one",)),
        (" sk-one , sk-two,,sk-one ", ("sk-one", "sk-two")),
        ("sk-with\\,comma,sk-two", ("sk-with,comma", "sk-two")),
        (" , ", ()),
    ],
)
def test_the_key_field_holds_comma_separated_keys(text: str, keys: tuple[str, ...]) -> None:
    found = read_with([entry(apiKey=text)])
    secrets = found.secrets.get(only(found)["name"])
    assert (secrets.api_keys if secrets else ()) == keys


def test_a_key_encrypted_for_its_computer_is_left_out_and_said_so() -> None:
    found = read_with([entry(apiKey="csenc:djEwAAAAbm90IGEgcmVhbCBrZXk=")])
    assert only(found)["name"] == "relay"
    assert found.secrets == {}
    assert [u.name for u in found.unsupported] == ["Relay"]
    assert "encrypted" in found.unsupported[0].reason


def test_names_follow_our_rule_and_stay_unique() -> None:
    found = read_with(
        [
            entry(id="a1", name="My Relay"),
            entry(id="a2", name="my relay"),
            entry(id="a3", name="中转站", apiHost="https://zh.example.com/v1"),
            entry(id="deepseek", name="DeepSeek 官方", isSystem=True),
        ]
    )
    names = [p["name"] for p in found.providers]
    assert names == ["my-relay", "my-relay-2", "zh.example.com", "deepseek"]
    assert [p["displayName"] for p in found.providers][2:] == ["中转站", "DeepSeek 官方"]


def test_a_built_in_set_up_only_by_being_turned_on_comes_over() -> None:
    found = read_with([entry(id="lmstudio", isSystem=True, apiKey="", apiHost="")])
    assert only(found)["baseURL"] == "http://localhost:1234/v1"
    assert found.secrets == {}


def test_many_built_ins_not_set_up_make_one_line_naming_the_first_ten() -> None:
    unused = [
        entry(id=f"b{i}", name=f"Built-in {i}", isSystem=True, enabled=False, apiKey="")
        for i in range(12)
    ]
    found = read_with(unused)
    assert found.providers == []
    (line,) = found.unsupported
    assert line.name == "12 built-in providers"
    assert line.reason.endswith("Built-in 8, Built-in 9…")


def test_a_provider_without_a_url_is_listed() -> None:
    found = read_with([entry(apiHost="  ")])
    assert found.providers == []
    assert "API address" in found.unsupported[0].reason


def test_a_built_in_without_a_url_gets_the_apps_default_host() -> None:
    found = read_with([entry(id="moonshot", name="Moonshot AI", isSystem=True, apiHost="")])
    assert only(found)["baseURL"] == "https://api.moonshot.cn/v1"


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "gemini"},
        {"type": "vertexai"},
        {"type": "vertex-anthropic"},
        {"type": "aws-bedrock"},
        {"type": "gateway"},
        {"type": "something-new"},
        {"type": "gemini", "isVertex": True},
    ],
)
def test_types_we_cannot_express_are_listed_with_their_type(fields: dict[str, Any]) -> None:
    found = read_with([entry(**fields)])
    assert found.providers == []
    kind = "vertexai" if fields.get("isVertex") else fields["type"]
    assert kind in found.unsupported[0].reason


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "anthropic", "authType": "oauth"},
        {"id": "copilot", "isSystem": True},
        {"id": "cherryai", "isSystem": True},
    ],
)
def test_providers_that_do_not_use_an_api_key_are_listed(fields: dict[str, Any]) -> None:
    found = read_with([entry(**fields)])
    assert found.providers == []
    assert len(found.unsupported) == 1


# --- URL quirks -----------------------------------------------------------------------------

OPENAI_NEW = [
    ("https://api.deepseek.com", "https://api.deepseek.com/v1/chat/completions"),
    ("https://api.deepseek.com/", "https://api.deepseek.com/v1/chat/completions"),
    ("https://openrouter.ai/api/v1/", "https://openrouter.ai/api/v1/chat/completions"),
    (
        "https://open.bigmodel.cn/api/paas/v4",
        "https://open.bigmodel.cn/api/paas/v4/chat/completions",
    ),
    (
        "https://ark.cn-beijing.volces.com/api/v3/",
        "https://ark.cn-beijing.volces.com/api/v3/chat/completions",
    ),
    ("https://x.example.com/v1beta/openai", "https://x.example.com/v1beta/openai/chat/completions"),
    ("https://x.example.com/vision", "https://x.example.com/vision/v1/chat/completions"),
    ("https://x.example.com#", "https://x.example.com/chat/completions"),
    ("https://x.example.com/v1/chat/completions#", "https://x.example.com/v1/chat/completions"),
    ("https://x.example.com/v1/responses#", "https://x.example.com/v1/chat/completions"),
    ("https://x.example.com/api/chat#", "https://x.example.com/api/chat/chat/completions"),
]
"""Cherry Studio 1.7 and later: `/v1` unless the path has a version; `#` only keeps it off.
(A Responses API URL becomes the Chat Completions one beside it: we speak that protocol.)"""
OPENAI_LEGACY = [
    ("https://api.deepseek.com", "https://api.deepseek.com/v1/chat/completions"),
    ("https://api.deepseek.com/", "https://api.deepseek.com/chat/completions"),
    ("https://x.example.com/v1", "https://x.example.com/v1/v1/chat/completions"),
    (
        "https://ark.cn-beijing.volces.com/api/v3",
        "https://ark.cn-beijing.volces.com/api/v3/chat/completions",
    ),
    ("https://x.example.com/api/chat#", "https://x.example.com/api/chat"),
    ("https://x.example.com/v1/chat/completions#", "https://x.example.com/v1/chat/completions"),
    ("https://x.example.com/api/chat?key=1#", "https://x.example.com/api/chat?key=1"),
    (
        "https://x.example.com/v1/chat/completions?key=1#",
        "https://x.example.com/v1/chat/completions?key=1",
    ),
]
"""Cherry Studio up to 1.6: a trailing `/` keeps `/v1` off, else it is added (a version already
in the path too); `#` ends the full request URL."""


def request_url(provider: dict[str, Any]) -> str:
    """The chat URL our app will use for this provider (CONTRACT §1)."""
    loaded = load_provider(provider)
    chat = loaded["endpoints"].get("chat")
    if chat:
        return loaded["baseURL"] + chat
    if loaded["type"] == "anthropic-compatible":
        base = loaded["baseURL"]
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")
    return loaded["baseURL"] + "/chat/completions"


@pytest.mark.parametrize(("host", "url"), OPENAI_NEW)
def test_openai_hosts_resolve_as_cherry_studio_1_7_does(host: str, url: str) -> None:
    found = read_with([entry(apiHost=host)])
    assert request_url(only(found)) == url


@pytest.mark.parametrize(("host", "url"), OPENAI_LEGACY)
def test_openai_hosts_resolve_as_cherry_studio_1_6_did(host: str, url: str) -> None:
    document = files.document(store_version=160)
    store = json.loads(document["localStorage"][files.PERSIST_KEY])
    store["llm"] = json.dumps({"providers": [entry(apiHost=host)]})
    document["localStorage"][files.PERSIST_KEY] = json.dumps(store)
    assert request_url(only(cherry.read(document))) == url


def test_a_full_url_of_its_own_is_checked_with_a_chat() -> None:
    target = cherry.openai_target("https://x.example.com/api/generate#", legacy=True)
    assert (target.type, target.base_url, target.endpoints, target.check_kind) == (
        "custom",
        "https://x.example.com/api",
        {"chat": "/generate"},
        "chat",
    )


def test_cherry_studios_built_ins_that_take_no_version_get_none() -> None:
    found = read_with([entry(id="perplexity", isSystem=True, apiHost="https://api.perplexity.ai/")])
    assert only(found)["baseURL"] == "https://api.perplexity.ai"


@pytest.mark.parametrize(
    ("host", "legacy", "url"),
    [
        ("https://api.anthropic.com", False, "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com/", True, "https://api.anthropic.com/v1/messages"),
        ("https://relay.example.com/v2", False, "https://relay.example.com/v2/messages"),
        (
            "https://relay.example.com/api/anthropic#",
            False,
            "https://relay.example.com/api/anthropic/messages",
        ),
        (
            "https://relay.example.com/api/anthropic#",
            True,
            "https://relay.example.com/api/anthropic",
        ),
        ("https://relay.example.com/v1/messages#", True, "https://relay.example.com/v1/messages"),
        (
            "https://relay.example.com/claude/messages#",
            False,
            "https://relay.example.com/claude/messages",
        ),
    ],
)
def test_anthropic_hosts_resolve_to_the_same_request_url(host: str, legacy: bool, url: str) -> None:
    target = cherry.anthropic_target(host, legacy=legacy)
    provider = {"name": "a", "displayName": "A", "baseURL": target.base_url, "model": "m"}
    provider |= {"type": target.type, "endpoints": target.endpoints}
    assert request_url(provider) == url


def test_an_anthropic_provider_uses_its_anthropic_host_when_it_has_one() -> None:
    found = read_with(
        [
            entry(
                type="anthropic",
                apiHost="https://relay.example.com",
                anthropicApiHost="https://relay.example.com/anthropic",
            )
        ]
    )
    assert request_url(only(found)) == "https://relay.example.com/anthropic/v1/messages"


@pytest.mark.parametrize(
    ("host", "version", "chat"),
    [
        (
            "https://r.openai.azure.com/",
            "preview",
            "https://r.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://r.openai.azure.com/openai/v1",
            "v1",
            "https://r.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://r.openai.azure.com/openai",
            "2024-10-21",
            "https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
        ),
    ],
)
def test_azure_uses_its_api_key_header_and_its_url_forms(
    host: str, version: str, chat: str
) -> None:
    found = read_with(
        [entry(type="azure-openai", apiHost=host, apiVersion=version, models=[{"id": "gpt-4o"}])]
    )
    provider = only(found)
    assert provider["auth"] == {"scheme": "header", "name": "api-key"}
    assert request_url(provider) == chat


@pytest.mark.parametrize(
    "host", ["http://localhost:11434", "http://localhost:11434/api", "http://localhost:11434/v1/"]
)
def test_cherry_studios_ollama_type_uses_ollamas_openai_api(host: str) -> None:
    found = read_with([entry(type="ollama", apiHost=host, apiKey="")])
    assert only(found)["baseURL"] == "http://localhost:11434/v1"


# --- damaged backups ------------------------------------------------------------------------


def test_a_direct_backup_is_refused_with_advice() -> None:
    with zipfile.ZipFile(io.BytesIO(files.direct_backup())) as archive:
        metadata = json.loads(archive.read("metadata.json"))
    with pytest.raises(ImportInvalid) as exc:
        cherry.read(metadata)
    assert "1.8.2" in exc.value.message
    assert list(problem_of(exc)) == ["metadata.json"]


def broken(edit: Any) -> dict[str, list[str]]:
    """Read a backup changed by `edit(document, store, llm)` and return the refusal's fields."""
    document = files.document()
    store = json.loads(document["localStorage"][files.PERSIST_KEY])
    llm = json.loads(store["llm"])
    stored_llm, stored_store = store["llm"], document["localStorage"][files.PERSIST_KEY]
    edit(document, store, llm)
    # What the edit left in place is written again with the edit's changes inside it.
    if store.get("llm") is stored_llm:
        store["llm"] = json.dumps(llm)
    if document["localStorage"].get(files.PERSIST_KEY) is stored_store:
        document["localStorage"][files.PERSIST_KEY] = json.dumps(store)
    with pytest.raises(ImportInvalid) as exc:
        cherry.read(document)
    return problem_of(exc)


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    target[key] = value


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda d, s, llm: d["localStorage"].pop(files.PERSIST_KEY), ROOT),
        (lambda d, s, llm: _set(d["localStorage"], files.PERSIST_KEY, 42), ROOT),
        (lambda d, s, llm: _set(d["localStorage"], files.PERSIST_KEY, None), ROOT),
        (lambda d, s, llm: _set(d["localStorage"], files.PERSIST_KEY, "{not json"), ROOT),
        (lambda d, s, llm: _set(d["localStorage"], files.PERSIST_KEY, "[1, 2]"), ROOT),
        (lambda d, s, llm: s.pop("llm"), f"{ROOT}.llm"),
        (lambda d, s, llm: _set(s, "llm", '{"providers": NaN}'), f"{ROOT}.llm"),
        (lambda d, s, llm: _set(s, "llm", 7), f"{ROOT}.llm"),
        (lambda d, s, llm: _set(llm, "providers", {"id": "x"}), f"{ROOT}.llm.providers"),
        (lambda d, s, llm: llm.pop("providers"), f"{ROOT}.llm.providers"),
        (lambda d, s, llm: _set(llm["providers"], 2, "openai"), f"{ROOT}.llm.providers[2]"),
        (
            lambda d, s, llm: _set(llm["providers"][1], "apiHost", 8000),
            f"{ROOT}.llm.providers[1].apiHost",
        ),
        (
            lambda d, s, llm: _set(llm["providers"][5], "apiKey", ["sk-a"]),
            f"{ROOT}.llm.providers[5].apiKey",
        ),
        (
            lambda d, s, llm: _set(llm["providers"][0], "models", "gpt-4o"),
            f"{ROOT}.llm.providers[0].models",
        ),
        (
            lambda d, s, llm: _set(llm["providers"][0], "extra_headers", {"X-N": 1}),
            f"{ROOT}.llm.providers[0].extra_headers",
        ),
    ],
)
def test_a_damaged_backup_is_refused_naming_the_place(edit: Any, path: str) -> None:
    fields = broken(edit)
    assert list(fields) == [path]
    assert fields[path][0]


def test_the_refusal_never_repeats_a_key() -> None:
    def edit(document: Any, store: Any, llm: Any) -> None:
        llm["providers"][5]["models"] = CANARY_KEY

    fields = broken(edit)
    assert CANARY_KEY not in json.dumps(fields)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
PROVIDER_FIELDS = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "name",
            "type",
            "apiKey",
            "apiHost",
            "anthropicApiHost",
            "apiVersion",
            "models",
            "enabled",
            "isSystem",
            "authType",
            "extra_headers",
            "isVertex",
        ]
    ),
    JSON_VALUES
    | st.sampled_from(
        ["openai", "anthropic", "azure-openai", "ollama", "https://a.b#", "http://[::1"]
    ),
    max_size=13,
)


@settings(max_examples=150, deadline=None)
@given(providers=st.lists(PROVIDER_FIELDS | JSON_VALUES, max_size=4), default=JSON_VALUES)
def test_any_provider_list_reads_or_is_refused_cleanly(providers: list[Any], default: Any) -> None:
    try:
        found = read_with(copy.deepcopy(providers), defaultModel=default)
    except ImportInvalid as err:
        assert err.fields
        return
    names = [p["name"] for p in found.providers]
    assert len(set(map(str.casefold, names))) == len(names)
    for provider in found.providers:
        assert all(isinstance(provider[f], str) for f in ("displayName", "baseURL", "model"))


def test_metadata_with_a_store_that_is_not_an_object_is_refused() -> None:
    document = {"appName": "Cherry Studio", "version": 6, "localStorage": 5}
    assert cherry.recognizes(document)
    with pytest.raises(ImportInvalid) as exc:
        cherry.read(document)
    assert list(problem_of(exc)) == ["localStorage"]
