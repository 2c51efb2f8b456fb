"""The fault matrix of issue 21: every failure class injected into the REAL Paperclip in several
variants, beside a healthy control company, watched by agentwatch, a real Prometheus with the
shipped rules (``for`` compressed) and a real Alertmanager with the shipped routing, down to the
incident webhook receiver.

- ``scenarios``: the variants, as data (what is injected, which alert must page, for whom);
- ``platform``: the Paperclip calls the recipes need beyond ``harness.paperclip``;
- ``driver``: sets every variant up on one server and records, per variant, whether the alert
  fired in Prometheus and reached the webhook with the right labels, and how long after the fault;
- ``report``: the table (``docs/detection.md`` holds it between markers).

``tests/test_detection_matrix.py`` runs a subset in CI; ``bench/detection.py`` runs all of it.
"""
