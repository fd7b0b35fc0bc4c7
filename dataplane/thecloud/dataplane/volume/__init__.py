"""Erasure-coded block volumes: thin-provisioned, crash-consistent, self-healing.

    from thecloud.dataplane.volume import VolumeStore

    disks = [f"/srv/disk{i}/volumes" for i in range(6)]
    with VolumeStore.open("/var/lib/thecloud/volumes", disks) as store:
        volume = store.create("db-data", 100 << 30)     # 100 GiB that take no space yet
        volume.pwrite(b"hello", 4096)
        volume.flush()                                   # durable from here on
        assert volume.pread(5, 4096) == b"hello"
        report = store.scrub()                           # finds and repairs bitrot

Layout: a volume is a sequence of stripes (1 MiB of data by default). A stripe is split into k
data shards and m parity shards (Reed-Solomon, 4+2 by default), each stored as one blob on a
distinct failure domain (a directory standing for a disk, or a node behind the `Domain`
protocol); the first domain rotates per stripe so load spreads over all of them. A stripe that
was never written, was trimmed, or holds only zeros has no blobs and no metadata.

Write path (copy-on-write stripe versions): `pwrite` modifies an in-memory copy of each stripe
it touches (reading the committed stripe first unless it overwrites it whole). `flush` encodes
each dirty stripe, writes its k + m shards as new blobs named by a version number never used
before, syncs them (fdatasync through the writing descriptor, then fsync of every directory
that gained an entry), and only then commits all the new stripe records (version, domains and
per-shard CRC32C) in one LMDB transaction, which is the commit point. The blobs of the previous
versions are deleted after the commit. A crash before the commit leaves the old versions
referenced and the new blobs as orphans; after it, the new versions. Either way no stripe is
torn, and every flushed write survives `kill -9` and power loss. Orphans are swept at the next
open after an unclean shutdown, and by every scrub.

Read path: reads take the dirty copy if there is one, else the committed record; they read only
the data shards covering the range, verify each shard's CRC32C, and rebuild missing or corrupt
shards from any k intact ones without the caller noticing. `scrub` checks every shard and
rewrites bad ones (`BackgroundScrubber` runs it periodically); `rebuild` re-creates a wiped or
replaced domain, reporting progress.
"""

from thecloud.dataplane.volume.directory import DirectoryDomain
from thecloud.dataplane.volume.domain import Domain, ShardKey
from thecloud.dataplane.volume.layout import StripeLayout
from thecloud.dataplane.volume.rebuild import RebuildProgress, RebuildReport
from thecloud.dataplane.volume.scrub import ScrubReport, ShardProblem
from thecloud.dataplane.volume.scrubber import BackgroundScrubber
from thecloud.dataplane.volume.shards import StripeLostError
from thecloud.dataplane.volume.store import (
    DEFAULT_WRITE_BACK,
    MAX_VOLUME_SIZE,
    StoreStats,
    VolumeInfo,
    VolumeStore,
)
from thecloud.dataplane.volume.volume import Volume

__all__ = [
    "DEFAULT_WRITE_BACK",
    "BackgroundScrubber",
    "MAX_VOLUME_SIZE",
    "DirectoryDomain",
    "Domain",
    "RebuildProgress",
    "RebuildReport",
    "ScrubReport",
    "ShardKey",
    "ShardProblem",
    "StoreStats",
    "StripeLayout",
    "StripeLostError",
    "Volume",
    "VolumeInfo",
    "VolumeStore",
]
