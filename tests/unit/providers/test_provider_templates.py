"""Provider templates and the factory's presets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from backend.errors import InvalidConfig, NotFound
from backend.models import PROVIDER_TYPES
from backend.providers import ProviderFactory, get_templates
from backend.providers.wire.anthropic import AnthropicAdapter
from backend.providers.wire.openai import OpenAIAdapter

NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REQUIRED = {
    "id",
    "displayName",
    "name",
    "type",
    "baseURL",
    "model",
    "needsApiKey",
    "docsURL",
    "notes",
}
EXPECTED = {
    "openai",
    "anthropic",
    "groq",
    "openrouter",
    "deepseek",
    "mistral",
    "together",
    "fireworks",
    "xai",
    "gemini",
    "azure-openai",
    "ollama",
    "lm-studio",
    "vllm",
    "llama-cpp",
    "siliconflow",
    "moonshot",
    "zhipu",
    "qwen",
    "perplexity",
}


def test_at_least_twenty_templates_with_every_field() -> None:
    templates = get_templates()
    assert len(templates) >= 20
    assert {t["id"] for t in templates} >= EXPECTED
    for template in templates:
        assert template.keys() >= REQUIRED, template["id"]


@pytest.mark.parametrize("template", get_templates(), ids=lambda t: t["id"])
def test_each_template_is_valid(template: dict[str, object]) -> None:
    assert NAME_RULE.match(str(template["name"]))
    assert template["type"] in PROVIDER_TYPES
    url = urlsplit(str(template["baseURL"]))
    local = url.hostname in ("localhost", "127.0.0.1")
    assert url.scheme == ("http" if local else "https")
    assert not str(template["baseURL"]).endswith("/")
    assert template["needsApiKey"] is not local
    assert str(template["docsURL"]).startswith("https://")


def test_ids_are_unique_and_copies_are_independent() -> None:
    templates = get_templates()
    assert len({t["id"] for t in templates}) == len(templates)
    templates[0]["baseURL"] = "changed"
    assert get_templates()[0]["baseURL"] != "changed"


def test_preset_builds_a_config_with_the_contract_url() -> None:
    config = ProviderFactory().preset("groq", provider_id="p-1")
    assert config.chat_url == "https://api.groq.com/openai/v1/chat/completions"
    assert config.auth.scheme == "bearer"
    anthropic = ProviderFactory().preset("anthropic", provider_id="p-2", model="claude-x")
    assert (anthropic.chat_url, anthropic.model) == (
        "https://api.anthropic.com/v1/messages",
        "claude-x",
    )


def test_azure_preset_needs_its_placeholders_filled() -> None:
    factory = ProviderFactory()
    with pytest.raises(InvalidConfig):
        factory.preset("azure-openai", provider_id="p")
    config = factory.preset(
        "azure-openai",
        provider_id="p",
        model="gpt4o",
        base_url="https://acme.openai.azure.com/openai/deployments/gpt4o",
    )
    assert config.chat_url.endswith(
        "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
    )
    assert (config.auth.scheme, config.auth.name) == ("header", "api-key")


def test_unknown_preset_is_not_found() -> None:
    with pytest.raises(NotFound):
        ProviderFactory().preset("nope", provider_id="p")


def test_adapters_by_type() -> None:
    factory = ProviderFactory()
    assert isinstance(factory.adapter(factory.preset("openai", provider_id="a")), OpenAIAdapter)
    assert isinstance(
        factory.adapter(factory.preset("anthropic", provider_id="b")), AnthropicAdapter
    )
    azure = factory.preset(
        "azure-openai", provider_id="c", base_url="https://x.openai.azure.com/openai/deployments/d"
    )
    assert isinstance(factory.adapter(azure), OpenAIAdapter)
