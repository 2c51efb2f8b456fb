"""The Paperclip source: Paperclip's REST API turned into the platform-neutral model.

``client.PaperclipSource`` polls one Paperclip server; ``parse`` turns its JSON rows into model
types; ``issues`` and ``kept_rows`` keep what did not change between polls; ``canary_api`` and
``remediation_api`` are the few writes agentwatch makes (canary tasks, opt-in remediations).
"""
