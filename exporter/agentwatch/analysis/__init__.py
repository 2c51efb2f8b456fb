"""The analysis layer: pure functions over the domain model, no I/O."""
