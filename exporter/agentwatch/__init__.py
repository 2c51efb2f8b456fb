"""agentwatch: a Prometheus exporter and monitoring bundle for fleets of AI agents."""

__version__ = "0.1.0"
