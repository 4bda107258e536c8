"""The HTTP API: backends in any language open cases, act on them and read them, over HTTPS and JSON."""
