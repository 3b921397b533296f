"""Usage and cost (CONTRACT §11): what each chat request cost, summaries, prices and budgets.

- service.py: `UsageService`, which records each request with its cost and answers the usage
  methods of the bridge;
- pricing.py: the bundled price table (backend/data/prices.json) and how a provider's model is
  matched to it; a request's cost;
- summary.py: summary rows from the running totals of the request log, and their CSV;
- zones.py: local days and months in a time zone; options.py: checking what the methods get.
"""

from __future__ import annotations

from backend.usage.pricing import Price, PriceBook
from backend.usage.service import Clock, UsageService
from backend.usage.zones import Zone

__all__ = ["Clock", "Price", "PriceBook", "UsageService", "Zone"]
