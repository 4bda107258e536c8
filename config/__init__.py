"""Configuration: every setting of every entry point, read from the environment once at start-up and
passed down. It imports nothing of the service, so every layer may depend on it."""
