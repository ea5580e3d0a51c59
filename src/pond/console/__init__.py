"""The web console: server-rendered pages for clients and operators under `/console`."""
