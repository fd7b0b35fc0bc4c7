"""Native engines of The Cloud (Rust, pyo3). Checked against the binary by mypy.stubtest."""

from os import PathLike
from pathlib import Path
from typing import final

__all__ = ["MetricsRegistry", "__version__"]
__version__: str

@final
class MetricsRegistry:
    """A metrics registry: process-local, or shared through a file by several processes."""

    def __new__(
        cls,
        path: str | PathLike[str] | None = None,
        *,
        cardinality_limit: int = ...,
        max_shards: int = 64,
        cells_per_shard: int = ...,
        meta_capacity: int = ...,
    ) -> MetricsRegistry: ...
    @property
    def path(self) -> Path | None: ...
    @property
    def cardinality_limit(self) -> int: ...
    def register(
        self, kind: str, name: str, help: str, label_names: list[str], buckets: list[float]
    ) -> int: ...
    def series(self, family: int, values: list[str]) -> int: ...
    def python_shard_address(self) -> int: ...
    def atomic_shard_address(self) -> int: ...
    def reclaim_python_shard(self) -> int: ...
    def render(self, openmetrics: bool = False) -> bytes: ...
    def stats(self) -> dict[str, int]: ...
    def hammer_counter(
        self, family: int, values: list[str], threads: int, iterations: int
    ) -> list[float]: ...
