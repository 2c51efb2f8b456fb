"""Prometheus history for the operator workflows (``agentwatch tune``, ``agentwatch audit``).

``client`` is the only place these commands talk HTTP: it runs PromQL against a Prometheus
and returns plain series. What the commands compute from them is pure.
"""
