"""The source layer: the platform's API turned into the domain model (the only HTTP)."""
