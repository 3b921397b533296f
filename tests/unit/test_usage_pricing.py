"""The bundled price table and its matching rules (backend/usage/pricing.py), and cost math."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backend.providers.templates import get_templates
from backend.usage.pricing import Price, PriceBook, bundled

DATA = Path(__file__).resolve().parents[2] / "backend" / "data" / "prices.json"
MAINLAND_CNY = {"deepseek", "moonshot", "zhipu", "qwen", "siliconflow"}


def price(book: PriceBook, url: str, model: str) -> Price:
    found = book.price(url, model)
    assert found is not None, f"{model} at {url} has no price"
    return found


def test_every_template_has_a_price_table_or_a_stated_reason() -> None:
    book = bundled()
    priced = {template for table in book.tables for template in table.templates}
    for template in get_templates():
        assert template["id"] in priced or template["id"] in book.unpriced, template["id"]
    assert not priced & set(book.unpriced)


def test_each_template_base_url_finds_its_own_table() -> None:
    book = bundled()
    for template in get_templates():
        if "placeholders" in template or template["id"] in book.unpriced:
            continue
        table = book.table_for(template["baseURL"])
        assert table is not None and template["id"] in table.templates, template["id"]


def test_chinese_providers_are_priced_in_cny_on_their_mainland_hosts_and_others_in_usd() -> None:
    book = bundled()
    for template in get_templates():
        table = book.table_for(template["baseURL"]) if "placeholders" not in template else None
        if table is None:
            continue
        expected = "CNY" if template["id"] in MAINLAND_CNY else "USD"
        assert table.currency == expected, template["id"]


def test_every_bundled_price_says_where_and_when_it_was_read() -> None:
    document = json.loads(DATA.read_text(encoding="utf-8"))
    assert document["format"] == "miaoda-chat/prices"
    for table in document["tables"]:
        assert table["source"] and table["asOf"], table["id"]
        for entry in table["models"]:
            assert len(entry.get("asOf", table["asOf"])) == 10, entry["model"]


def test_a_template_default_model_is_priced_where_its_table_has_it() -> None:
    book = bundled()
    assert price(book, "https://api.deepseek.com", "deepseek-v4-flash").currency == "CNY"
    assert price(book, "https://api.openai.com/v1", "gpt-5-mini").input == Decimal("0.25")
    assert price(book, "https://api.anthropic.com", "claude-sonnet-4-5").output == 15


def test_a_model_is_matched_exactly_ignoring_case_without_a_date_and_with_dots() -> None:
    book = bundled()
    openai = "https://api.openai.com/v1"
    anthropic = "https://api.anthropic.com"
    assert price(book, openai, "GPT-4o-Mini").model == "gpt-4o-mini"
    assert price(book, openai, "gpt-4o-2024-08-06").model == "gpt-4o"
    assert price(book, anthropic, "claude-sonnet-4-5-20250929").model == "claude-sonnet-4-5"
    assert price(book, anthropic, "claude-sonnet-4.5").model == "claude-sonnet-4-5"
    assert price(book, "https://api.x.ai/v1", "grok-4-0709").model == "grok-4"


def test_an_alias_finds_the_model_it_names() -> None:
    book = bundled()
    chat = price(book, "https://api.deepseek.com", "deepseek-chat")
    assert chat.model == "deepseek-v4-flash"


def test_an_unknown_model_has_no_price_rather_than_a_default_rate() -> None:
    book = bundled()
    assert book.price("https://api.openai.com/v1", "gpt-unknown-9") is None
    assert book.price("https://relay.example/v1", "gpt-4o-mini") is None


def test_the_international_host_of_a_chinese_provider_is_priced_in_usd() -> None:
    book = bundled()
    assert price(book, "https://api.moonshot.ai/v1", "moonshot-v1-8k").currency == "USD"
    assert price(book, "https://api.moonshot.cn/v1", "moonshot-v1-8k").currency == "CNY"


def test_a_gateway_prices_vendor_models_as_their_vendor_in_the_same_currency() -> None:
    book = bundled()
    routed = price(book, "https://openrouter.ai/api/v1", "anthropic/claude-sonnet-4.5")
    assert (routed.model, routed.input, routed.currency) == ("claude-sonnet-4-5", 3, "USD")
    assert price(book, "https://openrouter.ai/api/v1", "meta-llama/x:free").output == 0
    # DeepSeek's own table is in CNY; OpenRouter bills USD, so it is not borrowed.
    assert book.price("https://openrouter.ai/api/v1", "deepseek/deepseek-v4-flash") is None


def test_a_server_on_this_computer_costs_nothing_but_only_on_its_own_port() -> None:
    book = bundled()
    assert price(book, "http://localhost:11434/v1", "llama3.2").input == 0
    assert price(book, "http://127.0.0.1:1234/v1", "any").output == 0
    assert book.price("http://localhost:4000", "gpt-4o-mini") is None  # LiteLLM: a gateway
    assert book.price("http://localhost:9999/v1", "llama3.2") is None


def test_a_deployment_host_pattern_matches_any_resource() -> None:
    text = json.dumps(
        {
            "tables": [
                {
                    "id": "azure",
                    "name": "Azure",
                    "templates": ["azure-openai"],
                    "hosts": ["*.openai.azure.com"],
                    "currency": "USD",
                    "source": "x",
                    "asOf": "2026-01-01",
                    "models": [{"model": "gpt-4o", "input": 2.5, "output": 10}],
                }
            ]
        }
    )
    book = PriceBook.from_json(text)
    url = "https://mine.openai.azure.com/openai/deployments/gpt-4o"
    assert price(book, url, "gpt-4o").input == Decimal("2.5")
    assert book.price("https://openai.azure.com.evil.example/x", "gpt-4o") is None


def make(input: str, output: str, cached: str | None = None) -> Price:
    return Price(
        "m",
        Decimal(input),
        Decimal(output),
        None if cached is None else Decimal(cached),
        "USD",
        "user",
    )


def test_cost_is_price_per_million_times_tokens_in_micro_units() -> None:
    assert make("2", "8").cost_micros(1000, 500, 0) == 2 * 1000 + 8 * 500


def test_cached_input_tokens_cost_the_cached_price_and_otherwise_the_input_price() -> None:
    assert make("1", "2", "0.1").cost_micros(1000, 0, 400) == 600 + 40
    assert make("1", "2").cost_micros(1000, 0, 400) == 1000


def test_more_cached_tokens_than_input_tokens_are_capped() -> None:
    assert make("1", "0", "0.5").cost_micros(100, 0, 500) == 50


@pytest.mark.parametrize(
    ("input_price", "tokens", "micros"),
    [("0.075", 12, 1), ("0.075", 6, 0), ("0.05", 10, 1), ("0.0028", 1000, 3)],
)
def test_a_request_cost_is_rounded_half_up_to_a_micro_unit(
    input_price: str, tokens: int, micros: int
) -> None:
    assert make(input_price, "0").cost_micros(tokens, 0, 0) == micros


def test_bundled_prices_are_exact_decimals_not_binary_floats() -> None:
    flash = price(bundled(), "https://api.deepseek.com", "deepseek-v4-flash")
    assert flash.cached_input == Decimal("0.02")
    assert flash.cost_micros(10**6, 0, 10**6) == 20_000


def test_templates_hosts_are_covered_by_exactly_one_table() -> None:
    book = bundled()
    for template in get_templates():
        if "placeholders" in template:
            continue
        host = urlsplit(template["baseURL"]).netloc
        matching = [t.id for t in book.tables if t.matches(template["baseURL"])]
        assert len(matching) <= 1, (host, matching)


def test_the_tables_names_and_notes_follow_the_language() -> None:
    from backend import i18n
    from backend.usage.pricing import bundled, local

    ollama = next(t for t in bundled().tables if t.id == "ollama")
    perplexity = next(t for t in bundled().tables if t.id == "perplexity")
    sonar = perplexity.models["sonar"]
    assert (str(ollama.name), str(ollama.source)) == ("Ollama (local)", "runs on your own computer")
    assert local(sonar.note) is not None and local(sonar.note).startswith("Token prices only")
    i18n.set_language("zh-CN")
    assert (str(ollama.name), str(ollama.source)) == ("Ollama（本地）", "在你自己的电脑上运行")
    assert local(sonar.note) is not None and local(sonar.note).startswith("仅含 Token 价格")
    assert str(perplexity.name) == "Perplexity"  # one text for every language
