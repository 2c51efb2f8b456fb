"""The demo: a simulated Paperclip company in which every failure mode happens within minutes
(`agentwatch demo`, and the default platform of the compose stack)."""
