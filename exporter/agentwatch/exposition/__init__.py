"""The exposition layer: the domain model and analysis results turned into metric families."""
