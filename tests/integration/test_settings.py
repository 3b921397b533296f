"""Settings through the real app (CONTRACT §13): getSettings/updateSettings on the bridge and
over HTTP, validation with dotted field names, persistence across a restart, the health
settings as one state with get/setHealthSettings, the language in effect, and opening the data
folder and the log (through a recording opener: a test never launches a program)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend import i18n
from backend.app import MiaodaApp
from tests.integration.served import Call, rpc, serve

DEFAULTS = {
    "language": "system",
    "theme": "system",
    "health": {
        "intervalSeconds": 300,
        "slowThresholdMs": 3000,
        "timeoutSeconds": 10,
        "enabled": True,
    },
    "proxy": {"mode": "system", "url": None, "hasPassword": False},
    "sendKey": "enter",
}
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture(autouse=True)
def english_system(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The OS locale is C (English), whatever the machine's; the app's language is put back."""
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    yield
    i18n.set_language("en")


class Opened(list[Path]):
    """An opener that records what it was asked to open."""

    def __call__(self, path: Path) -> None:
        self.append(path)


def settings_of(call: Call) -> dict[str, Any]:
    answer = call("getSettings")
    assert answer["success"], answer
    settings: dict[str, Any] = answer["settings"]
    return settings


def test_a_new_app_has_the_default_settings_in_english(call: Call) -> None:
    answer = call("getSettings")
    assert answer == {"success": True, "settings": DEFAULTS, "language": "en"}


def test_an_update_is_merged_deeply_and_read_back(call: Call) -> None:
    answer = call(
        "updateSettings",
        {
            "theme": "dark",
            "sendKey": "ctrl-enter",
            "health": {"intervalSeconds": 120},
            "proxy": {"mode": "manual", "url": "socks5h://127.0.0.1:1080"},
        },
    )
    assert answer["success"], answer
    expected = {
        **DEFAULTS,
        "theme": "dark",
        "sendKey": "ctrl-enter",
        "health": {**DEFAULTS["health"], "intervalSeconds": 120},
        "proxy": {"mode": "manual", "url": "socks5h://127.0.0.1:1080", "hasPassword": False},
    }
    assert answer["settings"] == expected
    assert settings_of(call) == expected
    call("updateSettings", {"proxy": {"mode": "none"}, "health": {"enabled": False}})
    after = settings_of(call)
    assert after["proxy"] == {
        "mode": "none",
        "url": "socks5h://127.0.0.1:1080",
        "hasPassword": False,
    }
    assert after["health"] == {**expected["health"], "enabled": False}
    assert after["theme"] == "dark"


def test_the_settings_read_back_can_be_sent_back_unchanged(call: Call) -> None:
    call("updateSettings", {"theme": "light", "proxy": {"mode": "manual", "url": "http://p:3128"}})
    read = settings_of(call)
    assert call("updateSettings", read)["settings"] == read


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"language": "fr"}, "language"),
        ({"language": 5}, "language"),
        ({"theme": "sepia"}, "theme"),
        ({"sendKey": "shift-enter"}, "sendKey"),
        ({"health": {"intervalSeconds": 29}}, "health.intervalSeconds"),
        ({"health": {"intervalSeconds": 86_401}}, "health.intervalSeconds"),
        ({"health": {"intervalSeconds": "60"}}, "health.intervalSeconds"),
        ({"health": {"enabled": "yes"}}, "health.enabled"),
        ({"health": 60}, "health"),
        ({"proxy": "http://p:3128"}, "proxy"),
        ({"proxy": {"mode": "auto"}}, "proxy.mode"),
        ({"proxy": {"mode": "manual"}}, "proxy.url"),
        ({"proxy": {"mode": "manual", "url": ""}}, "proxy.url"),
        ({"proxy": {"url": "ftp://p:21"}}, "proxy.url"),
        ({"proxy": {"url": "socks4://p:1080"}}, "proxy.url"),
        ({"proxy": {"url": "http://"}}, "proxy.url"),
        ({"proxy": {"url": "p:3128"}}, "proxy.url"),
        ({"proxy": {"url": "http://p:3128/path"}}, "proxy.url"),
        ({"proxy": {"url": "http://p:3128?x=1"}}, "proxy.url"),
        ({"proxy": {"url": "http://p:99999"}}, "proxy.url"),
        ({"proxy": {"url": "http://p q:3128"}}, "proxy.url"),
        ({"proxy": {"url": "http://p:3128/" + "a" * 2100}}, "proxy.url"),
        ({"proxy": {"hasPassword": "no"}}, "proxy.hasPassword"),
        ({"colour": "red"}, "colour"),
        ({"proxy": {"port": 3128}}, "proxy.port"),
        ({"health": {"cadence": 5}}, "health.cadence"),
    ],
)
def test_a_bad_value_is_refused_by_its_dotted_name_and_nothing_changes(
    call: Call, bad: dict[str, Any], field: str
) -> None:
    before = settings_of(call)
    answer = call("updateSettings", {"theme": "dark", "health": {"enabled": False}} | bad)
    assert answer["success"] is False
    assert answer["error"]["code"] == "INVALID_CONFIG"
    assert list(answer["error"]["fields"]) == [field]
    assert field in answer["error"]["message"]
    assert settings_of(call) == before


def test_every_field_at_fault_is_named_at_once(call: Call) -> None:
    answer = call(
        "updateSettings",
        {"language": "fr", "proxy": {"mode": "auto"}, "health": {"timeoutSeconds": 0}},
    )
    fields = answer["error"]["fields"]
    assert set(fields) == {"language", "proxy.mode", "health.timeoutSeconds"}


@pytest.mark.parametrize("partial", [None, [], "dark", 5])
def test_an_update_that_is_not_an_object_is_refused(call: Call, partial: Any) -> None:
    answer = call("updateSettings", partial)
    assert answer["error"]["code"] == "INVALID_CONFIG"
    assert settings_of(call) == DEFAULTS


def test_the_settings_survive_a_restart(data_dir: Path) -> None:
    changes = {
        "language": "zh-CN",
        "theme": "light",
        "sendKey": "ctrl-enter",
        "health": {"intervalSeconds": 900, "enabled": False},
        "proxy": {"mode": "manual", "url": "https://user@proxy.example:8443"},
    }
    first = serve(data_dir)
    try:
        saved = rpc(first, "updateSettings", changes)
    finally:
        first.close()
    i18n.set_language("en")  # the restarted app must set it from what it saved
    second = serve(data_dir)
    try:
        assert rpc(second, "getSettings") == saved
        assert saved["language"] == "zh-CN" and i18n.current_language() == "zh-CN"
        assert second.health.settings.interval_seconds == 900
    finally:
        second.close()


def test_health_settings_are_one_state_with_get_and_set_health_settings(call: Call) -> None:
    call("updateSettings", {"health": {"intervalSeconds": 60}})
    assert call("getHealthSettings")["settings"]["intervalSeconds"] == 60
    call("setHealthSettings", {"enabled": False, "slowThresholdMs": 500})
    health = settings_of(call)["health"]
    assert health == {
        **DEFAULTS["health"],
        "intervalSeconds": 60,
        "enabled": False,
        "slowThresholdMs": 500,
    }


def test_the_health_schedule_follows_a_settings_update(app: MiaodaApp) -> None:
    rpc(app, "updateSettings", {"health": {"enabled": False, "intervalSeconds": 45}})
    assert app.health.settings.enabled is False
    assert app.health.settings.interval_seconds == 45


def test_chinese_applies_at_once_to_the_backend_messages_and_app_info(call: Call) -> None:
    answer = call("updateSettings", {"language": "zh-CN"})
    assert answer["language"] == "zh-CN"
    assert call("getAppInfo")["language"] == "zh-CN"
    refused = call("updateSettings", {"theme": "sepia"})["error"]
    assert refused["code"] == "INVALID_CONFIG"
    assert "设置" in refused["message"]
    assert call("updateSettings", {"language": "en"})["language"] == "en"
    assert "settings" in call("updateSettings", {"theme": "sepia"})["error"]["message"]


def test_system_follows_the_os_locale(monkeypatch: pytest.MonkeyPatch, call: Call) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    answer = call("updateSettings", {"language": "system"})
    assert (answer["settings"]["language"], answer["language"]) == ("system", "zh-CN")


def test_a_language_change_is_told_to_listeners_once(app: MiaodaApp) -> None:
    heard: list[str] = []
    app.on_language_change(heard.append)
    rpc(app, "updateSettings", {"language": "zh-CN"})
    rpc(app, "updateSettings", {"language": "zh-CN", "theme": "dark"})
    rpc(app, "updateSettings", {"language": "en"})
    assert heard == ["zh-CN", "en"]


def test_the_data_folder_and_the_log_are_opened_with_the_os(data_dir: Path) -> None:
    opened = Opened()
    app = serve(data_dir, opener=opened)
    try:
        assert rpc(app, "openDataFolder") == {"success": True, "opened": True}
        assert app.bridge().openLogFile() == {"success": True, "opened": True}
    finally:
        app.close()
    assert opened == [data_dir, app.log_file]
