"""The Cython rule compiler (see _compile.pyx). Checked against the binary by mypy.stubtest."""

from typing import Final, final

HASH_MIN: int
KEY_SIZE: Final[int]
INFO_SIZE: Final[int]
VALUE_SIZE: Final[int]
OVERFLOW_VALUE_SIZE: Final[int]
KIND_SG: Final[int]
KIND_ACL: Final[int]
RANGE_DENY: Final[int]

@final
class CompiledRules:
    """Packed trie, hash and overflow entries and the set's class table (struct fw_set_info),
    ready for `map_update_many`."""

    @property
    def keys(self) -> bytes: ...
    @property
    def values(self) -> bytes: ...
    @property
    def count(self) -> int: ...
    @property
    def hash_keys(self) -> bytes: ...
    @property
    def hash_values(self) -> bytes: ...
    @property
    def hash_count(self) -> int: ...
    @property
    def overflow_keys(self) -> bytes: ...
    @property
    def overflow_values(self) -> bytes: ...
    @property
    def overflow_count(self) -> int: ...
    @property
    def info(self) -> bytes: ...
    def __new__(
        cls,
        keys: bytes,
        values: bytes,
        count: int,
        hash_keys: bytes,
        hash_values: bytes,
        hash_count: int,
        overflow_keys: bytes,
        overflow_values: bytes,
        overflow_count: int,
        info: bytes,
    ) -> CompiledRules: ...

@final
class RuleCompiler:
    """Collects the validated rules of one rule set, then packs them (`build`)."""

    def __new__(cls) -> RuleCompiler: ...
    def check(
        self,
        owner: str,
        index: object,
        direction: object,
        protocol: object,
        ports: object,
        action: object = None,
    ) -> tuple[int, str, int, int]: ...
    def add(
        self,
        kind: int,
        owner: str,
        index: object,
        direction: object,
        protocol: object,
        ports: object,
        cidr: object,
        rule_id: int,
        priority: int = 0,
        action: object = None,
        member: bool = False,
    ) -> None: ...
    def build(self) -> CompiledRules: ...
