"""The cost of one LLM call: the span's own cost attribute, a price from the config, or the
maintained ``genai-prices`` table, in that order. A model none of them knows costs None (and is
counted), never a guess."""

from __future__ import annotations

from typing import Mapping

from agentwatch.config import PriceConfig


class Pricing:
    def __init__(self, overrides: Mapping[str, PriceConfig] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._unknown: set[tuple[str, str]] = set()
        self._rates: dict[tuple[str, str], tuple[float, ...]] = {}
        self.unpriced = 0  # calls with tokens whose model no table knows

    def cost(
        self, model: str, provider: str, input_tokens: int | None, output_tokens: int | None, cached: int | None = None
    ) -> float | None:
        if input_tokens is None and output_tokens is None:
            return None
        price = self.overrides.get(model)
        if price is not None:
            return price.cost(input_tokens or 0, output_tokens or 0, cached or 0)
        if not model or (model, provider) in self._unknown:
            self.unpriced += 1
            return None
        try:
            return self._table(model, provider, input_tokens or 0, output_tokens or 0, cached or 0)
        except Exception:  # noqa: BLE001 - the table raises LookupError and others for a model it lacks
            self._unknown.add((model, provider))
            self.unpriced += 1
            return None

    def _table(self, model: str, provider: str, input_tokens: int, output_tokens: int, cached: int) -> float:
        """The table's price. Below ``LINEAR_BELOW`` prompt tokens (under every tier the table
        knows), from the model's per-token rates, worked out once: the table's own lookup costs
        some 70 µs a call."""
        if input_tokens >= LINEAR_BELOW:
            return _table_price(model, provider, input_tokens, output_tokens, cached)
        rates = self._rates.get((model, provider))
        if rates is None:
            rates = self._rates[(model, provider)] = tuple(
                _table_price(model, provider, *usage) / RATE_TOKENS
                for usage in ((RATE_TOKENS, 0, 0), (0, RATE_TOKENS, 0), (RATE_TOKENS, 0, RATE_TOKENS))
            )
        per_input, per_output, per_cached_input = rates
        return (input_tokens - cached) * per_input + cached * per_cached_input + output_tokens * per_output


LINEAR_BELOW = 100_000
RATE_TOKENS = 50_000


def _table_price(model: str, provider: str, input_tokens: int, output_tokens: int, cached: int) -> float:
    from genai_prices import Usage, calc_price  # imported once a call needs a price

    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached or None)
    try:
        price = calc_price(usage, model_ref=model, provider_id=provider or None)
    except LookupError:
        if not provider:
            raise
        price = calc_price(usage, model_ref=model)  # a provider name the table spells otherwise
    return float(price.total_price)
