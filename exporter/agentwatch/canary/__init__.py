"""Canary tasks: synthetic tasks with known answers, run through the platform on a schedule."""
