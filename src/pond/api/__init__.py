"""The HTTP service: the Starlette application and what every route shares."""
