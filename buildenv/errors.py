class BuildEnvError(Exception):
    """A user-facing failure: the message says what is wrong and what to do about it."""


class ConfigError(BuildEnvError):
    """env.yaml is invalid; the message names the offending key."""
