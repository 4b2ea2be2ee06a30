"""The subcommands of ``audio-service``; each module has ``register(subparsers)``."""
