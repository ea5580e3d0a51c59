"""`pond demo`: the documented flow, end to end, against a throwaway server."""

from pond.demo.flow import run_demo

__all__ = ["run_demo"]
