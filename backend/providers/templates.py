"""Provider templates: known services, pre-filled so a user only adds a key.

Each template is contract-shaped wire data (camelCase): `id`, `displayName`, `name` (a
suggestion that satisfies the name rule), `type`, `baseURL`, `model` (a sensible default; the
user can pick another from the provider's model list), `needsApiKey`, `docsURL`, `notes`, and
where they differ from the type's defaults `auth`, `endpoints` and `headers`. A `baseURL` with
`{placeholders}` (Azure, a relay) must be completed by the user; `placeholders` names them.

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
        "OpenAI",
        "https://api.openai.com/v1",
        "gpt-5-mini",
        "https://platform.openai.com/docs/api-reference/chat",
        "Create a key at platform.openai.com. Reasoning models accept only their default "
        "temperature; MiaoDa Chat drops a refused parameter and retries once.",
    ),
    _template(
        "anthropic",
        "Anthropic",
        "https://api.anthropic.com",
        "claude-sonnet-4-5",
        "https://platform.claude.com/docs/en/api/overview",
        "Messages API (anthropic-version 2023-06-01). Temperature is capped at 1 and there "
        "are no penalty parameters.",
        type="anthropic-compatible",
    ),
    _template(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        "llama-3.3-70b-versatile",
        "https://console.groq.com/docs/openai",
        "Very fast inference of open models; reports usage under x_groq.",
    ),
    _template(
        "openrouter",
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        "openai/gpt-5-mini",
        "https://openrouter.ai/docs/api-reference/overview",
        "One key for hundreds of models named vendor/model. Optional HTTP-Referer and "
        "X-Title headers credit your app in OpenRouter's rankings.",
        check_kind="chat",  # a gateway: its model list says nothing of the upstreams
    ),
    _template(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com",
        "deepseek-v4-flash",
        "https://api-docs.deepseek.com/",
        "Thinking mode streams its reasoning as reasoning_content. deepseek-chat and "
        "deepseek-reasoner were deprecated on 2026-07-24.",
    ),
    _template(
        "mistral",
        "Mistral AI",
        "https://api.mistral.ai/v1",
        "mistral-small-latest",
        "https://docs.mistral.ai/api/",
        "Strict about unknown request fields: leave penalties unset if requests fail.",
    ),
    _template(
        "together",
        "Together AI",
        "https://api.together.ai/v1",
        "openai/gpt-oss-20b",
        "https://docs.together.ai/docs/inference/openai-compatibility",
        "Open models named vendor/model. The older host api.together.xyz also works.",
    ),
    _template(
        "fireworks",
        "Fireworks AI",
        "https://api.fireworks.ai/inference/v1",
        "accounts/fireworks/models/gpt-oss-120b",
        "https://docs.fireworks.ai/tools-sdks/openai-compatibility",
        "Model ids look like accounts/fireworks/models/<name>.",
    ),
    _template(
        "xai",
        "xAI (Grok)",
        "https://api.x.ai/v1",
        "grok-4",
        "https://docs.x.ai/docs/api-reference",
        "Grok models over the OpenAI wire.",
    ),
    _template(
        "gemini",
        "Google Gemini",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "gemini-2.5-flash",
        "https://ai.google.dev/gemini-api/docs/openai",
        "Gemini's OpenAI-compatible endpoint, with a key from Google AI Studio.",
    ),
    _template(
        "azure-openai",
        "Azure OpenAI",
        "https://{resource}.openai.azure.com/openai/deployments/{deployment}",
        "{deployment}",
        "https://learn.microsoft.com/azure/ai-foundry/openai/reference",
        "Replace {resource} with your Azure OpenAI resource name and {deployment} with your "
        "deployment name (also as the model). The key goes in the api-key header. Listing "
        "models is not available for a deployment URL.",
        type="custom",
        check_kind="chat",
        auth={"scheme": "header", "name": "api-key"},
        endpoints={"chat": "/chat/completions?api-version=2024-10-21"},
        placeholders=["resource", "deployment"],
    ),
    _template(
        "ollama",
        "Ollama (local)",
        "http://localhost:11434/v1",
        "llama3.2",
        "https://docs.ollama.com/api/openai-compatibility",
        "Runs models on this computer; no key needed. Pull the model first (ollama pull).",
        needs_api_key=False,
        auth={"scheme": "none"},
    ),
    _template(
        "lm-studio",
        "LM Studio (local)",
        "http://localhost:1234/v1",
        "openai/gpt-oss-20b",
        "https://lmstudio.ai/docs/developer/openai-compat",
        "Start the server in LM Studio's Developer tab; use a model identifier it lists.",
        needs_api_key=False,
        auth={"scheme": "none"},
    ),
    _template(
        "vllm",
        "vLLM (self-hosted)",
        "http://localhost:8000/v1",
        "Qwen/Qwen3-8B",
        "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        "The model is the one given to vllm serve. A key is needed only when the server "
        "was started with --api-key.",
        needs_api_key=False,
    ),
    _template(
        "llama-cpp",
        "llama.cpp server (local)",
        "http://localhost:8080/v1",
        "local",
        "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
        "llama-server serves the model it was started with; the model name is not checked. "
        "A key is needed only with --api-key.",
        needs_api_key=False,
    ),
    _template(
        "siliconflow",
        "SiliconFlow",
        "https://api.siliconflow.cn/v1",
        "deepseek-ai/DeepSeek-V3",
        "https://docs.siliconflow.cn/docs/userguide/quickstart",
        "Mainland China endpoint; the international one is https://api.siliconflow.com/v1.",
    ),
    _template(
        "moonshot",
        "Moonshot AI (Kimi)",
        "https://api.moonshot.cn/v1",
        "kimi-k2.6",
        "https://platform.kimi.com/docs/api/overview",
        "Mainland China endpoint; the international one is https://api.moonshot.ai/v1.",
    ),
    _template(
        "zhipu",
        "Zhipu AI (GLM)",
        "https://open.bigmodel.cn/api/paas/v4",
        "glm-4.5-flash",
        "https://docs.bigmodel.cn/",
        "The version path is /api/paas/v4. Penalty parameters are not supported.",
    ),
    _template(
        "z-ai",
        "Z.ai (GLM, international)",
        "https://api.z.ai/api/paas/v4",
        "glm-4.5-flash",
        "https://docs.z.ai/",
        "International endpoint of Zhipu's GLM models.",
    ),
    _template(
        "qwen",
        "Qwen (Alibaba DashScope)",
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "qwen-plus",
        "https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope",
        "Mainland China endpoint; the international one is "
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1.",
    ),
    _template(
        "perplexity",
        "Perplexity",
        "https://api.perplexity.ai",
        "sonar",
        "https://docs.perplexity.ai/docs/sonar/openai-compatibility",
        "Answers with web search. There is no model-list endpoint, so model lists are "
        "unavailable and health checks send a one-token chat.",
        check_kind="chat",
    ),
    _template(
        "cerebras",
        "Cerebras",
        "https://api.cerebras.ai/v1",
        "gpt-oss-120b",
        "https://inference-docs.cerebras.ai/resources/openai",
        "Very fast inference of open models.",
    ),
    _template(
        "huggingface",
        "Hugging Face Inference Providers",
        "https://router.huggingface.co/v1",
        "openai/gpt-oss-120b",
        "https://huggingface.co/docs/inference-providers/index",
        "Use a Hugging Face access token as the key; a :provider suffix on the model picks "
        "the serving provider.",
        check_kind="chat",  # a router in front of other providers
    ),
    _template(
        "litellm",
        "LiteLLM Proxy",
        "http://localhost:4000",
        "gpt-4o-mini",
        "https://docs.litellm.ai/docs/simple_proxy",
        "A gateway in front of other providers: use a model_name from the proxy's config, "
        "and its master key or a virtual key when it asks for one. Health checks send a "
        "one-token chat, because the proxy lists its models even when their upstreams fail.",
        needs_api_key=False,
        check_kind="chat",
    ),
    # Relays (中转站) are mostly One API or New API deployments, self-hosted or sold as a service.
    _template(
        "one-api",
        "One API / New API relay",
        "https://{host}/v1",
        "gpt-4o-mini",
        "https://github.com/songquanpeng/one-api",
        "For a relay service or your own One API or New API: replace {host} with its address "
        "(use http:// and the port, e.g. 3000, for one on your network) and use a token "
        "created in its console as the key. Health checks send a one-token chat, because a "
        "relay lists its models even when the channels behind them fail.",
        check_kind="chat",
        placeholders=["host"],
    ),
)


def get_templates() -> list[dict[str, Any]]:
    """All provider templates, as fresh copies the caller may change."""
    return copy.deepcopy(list(_TEMPLATES))


def get_template(template_id: str) -> dict[str, Any] | None:
    """One template by id, or None."""
    for template in _TEMPLATES:
        if template["id"] == template_id:
            return copy.deepcopy(template)
    return None
