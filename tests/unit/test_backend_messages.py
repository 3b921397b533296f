"""The backend's messages follow the app's language: the same error, made after
`set_language("zh-CN")`, says in Chinese what it says in English, with the same code; in
English it says exactly what it always said. Upstream words stay as the provider sent them,
and a key in them stays masked in either language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from string import Formatter
from typing import Any

import pytest

from backend import i18n
from backend.providers.wire.errors import Origin, from_response
from tests.helpers import CANARY_KEY, provider_config


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """Each test may switch the language; the next one starts in English again."""
    yield
    i18n.set_language("en")


@pytest.fixture
def secret_store(file_secret_store: Any) -> Any:
    """Messages do not depend on where keys are kept: the file store only."""
    return file_secret_store


def add_error(bridge: Any, **overrides: Any) -> dict[str, Any]:
    result = bridge.addCustomProvider(provider_config(**overrides), {"validate": False})
    assert result["success"] is False, result
    error: dict[str, Any] = result["error"]
    return error


def test_a_bad_provider_is_refused_in_the_chosen_language(bridge: Any) -> None:
    i18n.set_language("zh-CN")
    chinese = add_error(bridge, baseURL="ftp://api.example.com")
    i18n.set_language("en")
    english = add_error(bridge, baseURL="ftp://api.example.com")

    assert chinese["code"] == english["code"] == "INVALID_CONFIG"
    assert chinese["message"] == (
        "服务商配置无效（baseURL）：必须是带主机名的完整 http:// 或 https:// 地址，"
        "例如 https://api.example.com/v1。"
    )
    assert english["message"] == (
        "The provider is not valid: baseURL - Must be an absolute http:// or https:// URL "
        "with a host, e.g. https://api.example.com/v1."
    )
    assert set(chinese["fields"]) == set(english["fields"]) == {"baseURL"}


def test_marshmallows_own_messages_follow_the_language_too(bridge: Any) -> None:
    i18n.set_language("zh-CN")
    chinese = add_error(bridge, displayName=None, stream="yes")
    i18n.set_language("en")
    english = add_error(bridge, displayName=None, stream="yes")

    assert chinese["fields"] == {"displayName": ["缺少此必填字段。"], "stream": ["未知字段。"]}
    assert english["fields"] == {
        "displayName": ["Missing data for required field."],
        "stream": ["Unknown field."],
    }
    assert chinese["message"] == "服务商配置无效（displayName）：缺少此必填字段。"
    assert english["message"] == (
        "The provider is not valid: displayName - Missing data for required field."
    )


def test_a_rejected_key_is_explained_with_advice_quoting_the_provider_masked() -> None:
    origin = Origin.of("https://api.example.com/v1/chat/completions", "gpt-5-mini", CANARY_KEY)
    body = b'{"error": {"message": "Incorrect API key provided: ' + CANARY_KEY.encode() + b'"}}'

    i18n.set_language("zh-CN")
    chinese = from_response(401, {}, body, origin)
    i18n.set_language("en")
    english = from_response(401, {}, body, origin)

    assert chinese.code == english.code == "AUTH_FAILED"
    assert chinese.upstream_status == english.upstream_status == 401
    said = english.message.split("“")[1].split("”")[0]
    assert said.startswith("Incorrect API key provided: ")
    assert CANARY_KEY not in english.message + chinese.message
    assert chinese.message == (
        f"服务商拒绝了 API 密钥（HTTP 401：“{said}”）。请编辑该服务商，检查其密钥，"
        "并确认该密钥有权使用模型 gpt-5-mini。"
    )
    assert english.message == (
        f"The provider rejected the API key (HTTP 401: “{said}”). Edit the provider and "
        "check its key, and that the key may use the model gpt-5-mini."
    )


def test_a_file_that_is_no_export_is_refused_in_the_chosen_language(bridge: Any) -> None:
    i18n.set_language("zh-CN")
    chinese = bridge.importCustomProviders({"content": "{not json"})["error"]
    i18n.set_language("en")
    english = bridge.importCustomProviders({"content": "{not json"})["error"]

    assert chinese["code"] == english["code"] == "IMPORT_INVALID"
    assert chinese["message"] == "文件不是有效的 JSON，因此不是服务商导出文件。"
    assert english["message"] == "The file is not valid JSON, so it is not a provider export."


def test_a_missing_provider_is_reported_in_the_chosen_language(bridge: Any) -> None:
    i18n.set_language("zh-CN")
    chinese = bridge.getCustomProvider("no-such-id")["error"]
    i18n.set_language("en")
    english = bridge.getCustomProvider("no-such-id")["error"]

    assert chinese == {"code": "NOT_FOUND", "message": "该服务商不存在，可能已被删除。"}
    assert english == {
        "code": "NOT_FOUND",
        "message": "That provider does not exist; it may have been removed.",
    }


def test_a_storage_failure_names_what_failed_and_why_in_the_chosen_language(
    tmp_path: Path,
) -> None:
    from backend.errors import StorageError
    from backend.storage import Storage

    path = tmp_path / "miaoda.db"
    path.write_bytes(b"this is not a database, but it is long enough to look like one" * 20)
    i18n.set_language("zh-CN")
    with pytest.raises(StorageError) as chinese:
        Storage(path)
    i18n.set_language("en")
    with pytest.raises(StorageError) as english:
        Storage(path)

    assert chinese.value.message == (
        f"妙答无法打开数据文件 {path}：数据文件已损坏，或不是妙答的数据文件。"
        "请把它移出数据文件夹以重新开始，或从备份中恢复。"
    )
    assert english.value.message == (
        f"MiaoDa Chat could not open its data file {path}: the data file is damaged or is "
        "not a MiaoDa Chat data file. Move it out of the data folder to start afresh, or "
        "restore it from a backup."
    )


def test_every_backend_message_takes_its_parameters() -> None:
    """Each catalogue text formats with its parameters (a stray brace would break it there, in
    front of a user), and shows each of them."""
    for language in i18n.LANGUAGES:
        i18n.set_language(language)
        for key, entry in i18n.catalogue(language).items():
            texts = [entry] if isinstance(entry, str) else list(entry.values())
            names = {field for text in texts for _, field, _, _ in Formatter().parse(text) if field}
            params: dict[str, Any] = {name: f"<{name}>" for name in names - {"count"}}
            text = i18n.tr(key, count=2, **params)
            assert all(value in text for value in params.values()), (language, key, text)
