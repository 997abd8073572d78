"""Typed, strict configuration and its YAML loader."""
