"""Exportable entities: which table, which columns, which time and tenant columns."""

from pond.entities.registry import EVENT, Entity, get_entity

__all__ = ["EVENT", "Entity", "get_entity"]
