"""pond: a self-hostable POND Snapshots API and the client to use it."""

__version__ = "0.1.0"
