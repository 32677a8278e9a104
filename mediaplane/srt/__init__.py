"""srt."""

__all__: list[str] = []
