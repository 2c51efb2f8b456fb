"""The analysis layer: what the exporter works out from the domain model, and no I/O.

The indexes here keep their state across polls and take in only what changed. What they hand
out is read-only (frozen rows, read-only mappings), and each index owns a generation counter
that moves on when its output changes (``views``).
"""
