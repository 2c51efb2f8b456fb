"""``agentwatch incidents``: the postmortem log and opt-in auto-remediation.

- ``events``: pure: an Alertmanager notification turned into incident events, and the Markdown
  postmortem stub of an incident;
- ``store``: the append-only JSON-lines log and the stubs on disk (atomic, survives restarts,
  de-duplicates Alertmanager's repeats);
- ``remediate``: the policy (allowlists, dry run, rate limit, never on resolved or stale alerts)
  and the actions through ``source.remediation_api``;
- ``receiver``: the webhook HTTP server with its shared-secret check;
- ``settings``: the validated configuration.
"""
