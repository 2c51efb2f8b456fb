"""The source layer: the platform's API turned into the domain model (the only HTTP).

``base`` holds the interface every platform implements (``Source``) and the errors it raises
(``SourceError``, ``SchemaError``); ``http`` the HTTP client; ``paperclip`` the one platform so
far. docs/sources.md says how to add another.
"""

from agentwatch.source.base import PollStats, SchemaError, Source, SourceError

__all__ = ["PollStats", "SchemaError", "Source", "SourceError"]
