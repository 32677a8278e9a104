"""netem."""

__all__: list[str] = []
