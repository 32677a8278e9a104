"""media."""

__all__: list[str] = []
