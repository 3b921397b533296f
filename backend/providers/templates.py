"""Provider templates: known services, pre-filled so a user only adds a key.

Each template is contract-shaped wire data (camelCase): `id`, `displayName`, `name` (a
suggestion that satisfies the name rule), `type`, `baseURL`, `model` (a sensible default; the
user can pick another from the provider's model list), `needsApiKey`, `docsURL`, `notes`, and
where they differ from the type's defaults `auth`, `endpoints` and `headers`. A `baseURL` with
`{placeholders}` (Azure, a relay) must be completed by the user; `placeholders` names them.
`displayName` and `notes` are in the app's language: the table holds their catalogue keys.

`checkKind` says how health checks probe a provider made from the template (docs/HEALTH.md):
`models` (the model list, free) for a service that serves the models itself, `chat` (a
one-token chat) for a gateway or relay, which answers its model list from its own
configuration even while every chat fails, and for a service with no model list.

Base URLs were checked against each provider's public documentation in November 2026; default
model names change more often than URLs and are only a starting point.
"""

from __future__ import annotations

import copy
from typing import Any

from backend.i18n import tr

_OPENAI = "openai-compatible"


def _template(
    id: str,
    display_name: str,
    base_url: str,
    model: str,
    docs_url: str,
    notes: str,
    *,
    type: str = _OPENAI,
    needs_api_key: bool = True,
    check_kind: str = "models",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "displayName": display_name,
        "name": id,
        "type": type,
        "baseURL": base_url,
        "model": model,
        "needsApiKey": needs_api_key,
        "docsURL": docs_url,
        "notes": notes,
        "checkKind": check_kind,
        **extra,
    }


_TEMPLATES: tuple[dict[str, Any], ...] = (
    _template(
        "openai",
        "templates.openai.displayName",
        "https://api.openai.com/v1",
        "gpt-5-mini",
        "https://platform.openai.com/docs/api-reference/chat",
        "templates.openai.notes",
    ),
    _template(
        "anthropic",
        "templates.anthropic.displayName",
        "https://api.anthropic.com",
        "claude-sonnet-4-5",
        "https://platform.claude.com/docs/en/api/overview",
        "templates.anthropic.notes",
        type="anthropic-compatible",
    ),
    _template(
        "groq",
        "templates.groq.displayName",
        "https://api.groq.com/openai/v1",
        "llama-3.3-70b-versatile",
        "https://console.groq.com/docs/openai",
        "templates.groq.notes",
    ),
    _template(
        "openrouter",
        "templates.openrouter.displayName",
        "https://openrouter.ai/api/v1",
        "openai/gpt-5-mini",
        "https://openrouter.ai/docs/api-reference/overview",
        "templates.openrouter.notes",
        check_kind="chat",  # a gateway: its model list says nothing of the upstreams
    ),
    _template(
        "deepseek",
        "templates.deepseek.displayName",
        "https://api.deepseek.com",
        "deepseek-v4-flash",
        "https://api-docs.deepseek.com/",
        "templates.deepseek.notes",
    ),
    _template(
        "mistral",
        "templates.mistral.displayName",
        "https://api.mistral.ai/v1",
        "mistral-small-latest",
        "https://docs.mistral.ai/api/",
        "templates.mistral.notes",
    ),
    _template(
        "together",
        "templates.together.displayName",
        "https://api.together.ai/v1",
        "openai/gpt-oss-20b",
        "https://docs.together.ai/docs/inference/openai-compatibility",
        "templates.together.notes",
    ),
    _template(
        "fireworks",
        "templates.fireworks.displayName",
        "https://api.fireworks.ai/inference/v1",
        "accounts/fireworks/models/gpt-oss-120b",
        "https://docs.fireworks.ai/tools-sdks/openai-compatibility",
        "templates.fireworks.notes",
    ),
    _template(
        "xai",
        "templates.xai.displayName",
        "https://api.x.ai/v1",
        "grok-4",
        "https://docs.x.ai/docs/api-reference",
        "templates.xai.notes",
    ),
    _template(
        "gemini",
        "templates.gemini.displayName",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "gemini-2.5-flash",
        "https://ai.google.dev/gemini-api/docs/openai",
        "templates.gemini.notes",
    ),
    _template(
        "azure-openai",
        "templates.azureOpenai.displayName",
        "https://{resource}.openai.azure.com/openai/deployments/{deployment}",
        "{deployment}",
        "https://learn.microsoft.com/azure/ai-foundry/openai/reference",
        "templates.azureOpenai.notes",
        type="custom",
        check_kind="chat",
        auth={"scheme": "header", "name": "api-key"},
        endpoints={"chat": "/chat/completions?api-version=2024-10-21"},
        placeholders=["resource", "deployment"],
    ),
    _template(
        "ollama",
        "templates.ollama.displayName",
        "http://localhost:11434/v1",
        "llama3.2",
        "https://docs.ollama.com/api/openai-compatibility",
        "templates.ollama.notes",
        needs_api_key=False,
        auth={"scheme": "none"},
    ),
    _template(
        "lm-studio",
        "templates.lmStudio.displayName",
        "http://localhost:1234/v1",
        "openai/gpt-oss-20b",
        "https://lmstudio.ai/docs/developer/openai-compat",
        "templates.lmStudio.notes",
        needs_api_key=False,
        auth={"scheme": "none"},
    ),
    _template(
        "vllm",
        "templates.vllm.displayName",
        "http://localhost:8000/v1",
        "Qwen/Qwen3-8B",
        "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        "templates.vllm.notes",
        needs_api_key=False,
    ),
    _template(
        "llama-cpp",
        "templates.llamaCpp.displayName",
        "http://localhost:8080/v1",
        "local",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
        "templates.llamaCpp.notes",
        needs_api_key=False,
    ),
    _template(
        "siliconflow",
        "templates.siliconflow.displayName",
        "https://api.siliconflow.cn/v1",
        "deepseek-ai/DeepSeek-V3",
        "https://docs.siliconflow.cn/docs/userguide/quickstart",
        "templates.siliconflow.notes",
    ),
    _template(
        "moonshot",
        "templates.moonshot.displayName",
        "https://api.moonshot.cn/v1",
        "kimi-k2.6",
        "https://platform.kimi.com/docs/api/overview",
        "templates.moonshot.notes",
    ),
    _template(
        "zhipu",
        "templates.zhipu.displayName",
        "https://open.bigmodel.cn/api/paas/v4",
        "glm-4.5-flash",
        "https://docs.bigmodel.cn/",
        "templates.zhipu.notes",
    ),
    _template(
        "z-ai",
        "templates.zAi.displayName",
        "https://api.z.ai/api/paas/v4",
        "glm-4.5-flash",
        "https://docs.z.ai/",
        "templates.zAi.notes",
    ),
    _template(
        "qwen",
        "templates.qwen.displayName",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "qwen-plus",
        "https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope",
        "templates.qwen.notes",
    ),
    _template(
        "perplexity",
        "templates.perplexity.displayName",
        "https://api.perplexity.ai",
        "sonar",
        "https://docs.perplexity.ai/docs/sonar/openai-compatibility",
        "templates.perplexity.notes",
        check_kind="chat",
    ),
    _template(
        "cerebras",
        "templates.cerebras.displayName",
        "https://api.cerebras.ai/v1",
        "gpt-oss-120b",
        "https://inference-docs.cerebras.ai/resources/openai",
        "templates.cerebras.notes",
    ),
    _template(
        "huggingface",
        "templates.huggingface.displayName",
        "https://router.huggingface.co/v1",
        "openai/gpt-oss-120b",
        "https://huggingface.co/docs/inference-providers/index",
        "templates.huggingface.notes",
        check_kind="chat",  # a router in front of other providers
    ),
    _template(
        "litellm",
        "templates.litellm.displayName",
        "http://localhost:4000",
        "gpt-4o-mini",
        "https://docs.litellm.ai/docs/simple_proxy",
        "templates.litellm.notes",
        needs_api_key=False,
        check_kind="chat",
    ),
    # Relays (中转站) are mostly One API or New API deployments, self-hosted or sold as a service.
    _template(
        "one-api",
        "templates.oneApi.displayName",
        "https://{host}/v1",
        "gpt-4o-mini",
        "https://github.com/songquanpeng/one-api",
        "templates.oneApi.notes",
        check_kind="chat",
        placeholders=["host"],
    ),
)


def get_templates() -> list[dict[str, Any]]:
    """All provider templates in the app's language, as fresh copies the caller may change."""
    return [_in_language(template) for template in _TEMPLATES]


def get_template(template_id: str) -> dict[str, Any] | None:
    """One template by id in the app's language, or None."""
    for template in _TEMPLATES:
        if template["id"] == template_id:
            return _in_language(template)
    return None


def _in_language(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    out["displayName"] = tr(template["displayName"])
    out["notes"] = tr(template["notes"])
    return out
