"""The monitoring bundle and the local stack: tooling around the exporter, not part of it.

``bundle`` reads the shipped rules and scales their durations; ``local`` starts Prometheus,
Alertmanager, the incident receiver, agentwatch and the demo as child processes
(``agentwatch stack``).
"""
