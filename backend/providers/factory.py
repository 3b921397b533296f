"""`ProviderFactory`: the one way to get a protocol adapter for a provider, and ready
configurations for the built-in presets (templates that need only a key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.errors import InvalidConfig, NotFound
from backend.i18n import tr
from backend.models import (
    AuthConfig,
    ProviderConfig,
    ProviderType,
    default_auth,
    utc_now,
)
from backend.providers.templates import get_template, get_templates
from backend.providers.wire.anthropic import AnthropicAdapter
from backend.providers.wire.base import Adapter
from backend.providers.wire.openai import OpenAIAdapter


class ProviderFactory:
    """Adapters by provider type; `custom` speaks the OpenAI wire with its own auth and paths."""

    def __init__(self, adapters: Mapping[ProviderType, Adapter] | None = None) -> None:
        openai = OpenAIAdapter()
        self._adapters: dict[ProviderType, Adapter] = {
            "openai-compatible": openai,
            "custom": openai,
            "anthropic-compatible": AnthropicAdapter(),
            **(adapters or {}),
        }

    def adapter(self, config: ProviderConfig) -> Adapter:
        """The adapter that speaks `config`'s wire protocol."""
        try:
            return self._adapters[config.type]
        except KeyError:
            raise InvalidConfig(
                tr("providers.unsupportedType", type=repr(config.type)),
                fields={"type": [tr("providers.unsupportedTypeField")]},
            ) from None

    @staticmethod
    def preset_ids() -> list[str]:
        """Ids of the built-in presets (the provider templates)."""
        return [t["id"] for t in get_templates()]

    def preset(
        self,
        template_id: str,
        *,
        provider_id: str,
        model: str | None = None,
        base_url: str | None = None,
    ) -> ProviderConfig:
        """A provider config made from a built-in template (its key is stored elsewhere)."""
        template = get_template(template_id)
        if template is None:
            raise NotFound(tr("providers.template.unknown", id=repr(template_id)))
        url = (base_url or template["baseURL"]).rstrip("/")
        if "{" in url:
            raise InvalidConfig(
                tr("providers.template.placeholders", name=template["displayName"]),
                fields={"baseURL": [tr("providers.template.placeholdersField")]},
            )
        now = utc_now()
        return ProviderConfig(
            id=provider_id,
            name=template["name"],
            display_name=template["displayName"],
            base_url=url,
            model=model or template["model"],
            type=template["type"],
            auth=_auth(template.get("auth"), template["type"]),
            headers=dict(template.get("headers", {})),
            endpoints=dict(template.get("endpoints", {})),
            check_kind=template["checkKind"],
            created_at=now,
            updated_at=now,
        )


def _auth(raw: Any, provider_type: ProviderType) -> AuthConfig:
    if isinstance(raw, dict):
        return AuthConfig(raw["scheme"], raw.get("name"))
    return default_auth(provider_type)
