"""Exportable entities: which table, which columns, which time and tenant columns."""

from pond.entities.registry import EVENT, Entity, exported, get_entity

__all__ = ["EVENT", "Entity", "exported", "get_entity"]
