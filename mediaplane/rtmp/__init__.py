"""rtmp."""

__all__: list[str] = []
