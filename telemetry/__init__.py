"""Metrics, logs and traces of a process, set up by its entry point before the first client connects."""
