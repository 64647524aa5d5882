"""The build cache of `meshc compile`: rendered, self-checked output and the previous output tree.

A compile of a big mesh renders and self-checks every object again although a one-service change
alters a handful of them. This cache keeps, per spec, what the last successful compile produced:

- **texts**: a content address of each object's body (a hash of its canonical JSON bytes) -> the
  YAML text `emit.dump` made of it. An entry stands for two pure functions of the body: its
  rendering and the fact that it passed the self-check (only a compile whose output all passed
  writes the cache). A compile reuses both for every unchanged body.
- **units**: per namespace (`meshc.compiler.units`), the key of what its objects were computed
  from and each object's kind, name, cluster, owner and body address. A compile whose unit has
  the same key does not lower it again: its objects stand in the result with a `ReusedBody` (the
  address, no data), whose text, and the fact that it passed the self-check, the texts hold. And
  per gateway, the key of its Gateway and VirtualService (`units.gateway_keys`): reused one by one
  within a namespace lowered anew.
- **the output tree** of `-o DIR`: per file, the (device, inode, size, mtime) it had when meshc
  wrote or linked it and the address of its body. A file of the previous tree whose `lstat` still
  shows exactly that is hard-linked into the new tree without reading it (as Git trusts its index):
  meshc never writes a file in place, so an inode it wrote keeps its bytes; a file someone edited
  in place gets a new mtime (a new inode if it was replaced), unless the edit fell within the
  filesystem's timestamp tick of meshc's own write: entries at least as new as the tree's marker
  file ("racily clean", in Git's words) are compared by content, as without the cache. And per
  folder, a digest of its entries' names, kinds and statuses (`outdir.folder_entries`): a
  recompile that replaces one folder checks every other folder by one listing and one digest.

Storage and trust: one pack file per spec (its absolute path and overlays) in meshc's cache
directory (`MESHC_CACHE_DIR`, else `$XDG_CACHE_HOME/meshc`, else `~/.cache/meshc`; private, 0700),
written atomically (a temporary file, then a rename: two compiles at once leave one whole pack,
the last writer's). A compile that changed little of it keeps the last whole index's bytes as they
are and adds a delta after them (`BuildCache._save_delta`): a one-service recompile at 10,000
services writes a few kilobytes of new index instead of re-serialising 22 MB. Its header names
the format, a fingerprint of meshc's own files, the vendored CRDs and schemas, the libraries that
render or check output, and the Python version; a checksum covers the content. A pack that cannot
be read, is damaged or was written by another meshc is ignored with `warning MC220: cache ignored:
<reason>` and replaced by this compile; it is never trusted. `MESHC_CACHE_DIR=` (empty) or `meshc
compile --no-cache` turn the cache off. The output is byte-identical with and without it
(tests/test_buildcache.py compares them over random edits)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import itertools
import mmap
import operator
import os
import stat
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import orjson

from .exits import EXIT_USAGE
from .manifest import Manifest

if TYPE_CHECKING:
    from .emit import FileRecord
    from .outdir import EarlyScan
from .selfcheck import diskcache

FORMAT = 6
MAGIC = b"meshc-build-cache\n"
CODE = "MC220"

_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)
"""JSON bytes of a JSON-like body; anything but plain dict/list/str/int/float/bool/None (a str
subclass, a dataclass, a datetime) raises, so such a body is never cached. Keys are not sorted
(sorting costs a third more): equal bytes still mean an equal body, and an equal body with its keys
in another order only misses the cache."""

_PACKAGES = ("orjson", "jsonschema_rs", "kubernetes_validate", "celpy", "lark", "yaml")
"""Libraries whose code decides what the self-check accepts or how output is rendered."""

UNIT_COLUMNS = ("kind", "namespace", "name", "cluster", "owner", "address")
"""What the pack keeps of each object of a unit (see `units`)."""

IndexEntry = tuple[int, int, int, int, str]
"""(st_dev, st_ino, st_size, st_mtime_ns, body address) of one file of an output tree."""

ADDRESS_OF_ENTRY = operator.itemgetter(4)
"""The body address of an `IndexEntry`."""


@cache
def fingerprint() -> str:
    """A hash of everything the cached results are a function of, besides the bodies: meshc's own
    files (code, vendored CRDs and schemas: path, size, mtime, as Python's bytecode cache tells
    files apart), the libraries in `_PACKAGES` and the Python version."""
    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{sys.implementation.cache_tag}\n".encode())
    import meshc.spec  # the spec's models and loader (imported by every compile anyway)

    roots = [Path(__file__).resolve().parent, Path(meshc.spec.__file__).resolve().parent]
    files = [f for root in roots for f in _files(root)]
    for name in _PACKAGES:
        # The package's own directory, not its data (an install or upgrade rewrites every file).
        found = importlib.util.find_spec(name)
        if found is not None and found.submodule_search_locations:
            top = Path(next(iter(found.submodule_search_locations)))
            files += sorted(str(p) for p in top.iterdir() if p.suffix in (".py", ".so", ".pyi", ".lark"))
        elif found is not None and found.origin:
            files.append(found.origin)
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            continue
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _files(root: Path) -> list[str]:
    if root.is_file():
        return [str(root)]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        found += [os.path.join(folder, f) for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
    return found


class ReusedBody(dict[str, Any]):
    """The body of an object an incremental compile took from the cache instead of lowering it:
    empty, with the `address` of the body it stands for, whose text (rendered and self-checked)
    the cache holds. Only a compile with the build cache sees one, and only where it renders from
    the cache (never the behaviour verifier, which sees what was lowered anew)."""

    __slots__ = ("address",)

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address


def _slot_descriptors() -> tuple[Any, ...]:
    """The slots' descriptors of a `Manifest` in UNIT_COLUMNS' order with `body` last, and a
    `ReusedBody`'s `address`'s (see `reused_manifests`)."""
    fields = [*UNIT_COLUMNS[:-1], "body"]
    if sorted(fields) != sorted(f.name for f in dataclasses.fields(Manifest)):
        raise AssertionError(f"Manifest's fields are not {fields}")  # a new field: set it below too
    return (*(getattr(Manifest, f) for f in fields), vars(ReusedBody)["address"])


_SLOTS = _slot_descriptors()
_SET_KIND, _SET_NAMESPACE, _SET_NAME, _SET_CLUSTER, _SET_OWNER, _SET_BODY, _SET_ADDRESS = (
    d.__set__ for d in _SLOTS
)


def reused_manifests(rows: Sequence[tuple[Any, ...]]) -> list[Manifest]:
    """`Manifest(kind, namespace, name, ReusedBody(address), cluster, owner)` of each row (as in
    UNIT_COLUMNS), made without the two `__init__`s: each object's slots set through their
    descriptors (a frozen dataclass's `__init__` sets each field through `object.__setattr__`,
    and `ReusedBody`'s calls `dict.__init__`): 0.10 -> 0.05 s for the 80,000 objects a one-service
    recompile at 10,000 services reuses, and 0.024 s in C (`_emitc.reused_manifests`, the same
    calls without the interpreter between them, where it is built; a list of tuples only).
    tests/test_buildcache.py holds both equal to the dataclass's own."""
    native = _native_reused_manifests()
    if native is not None and type(rows) is list:
        made: list[Manifest] = native(rows, Manifest, _SLOTS[:6], ReusedBody, _SLOTS[6])
        return made
    return _reused_manifests(rows)


@cache
def _native_reused_manifests() -> Any:
    from meshc.spec.native import extension

    emitc = extension("meshc.compiler._emitc")
    return None if emitc is None else emitc.reused_manifests


def _reused_manifests(rows: Sequence[tuple[Any, ...]]) -> list[Manifest]:
    """`reused_manifests` in Python."""
    new_manifest, new_body = object.__new__, dict.__new__
    set_kind, set_namespace, set_name = _SET_KIND, _SET_NAMESPACE, _SET_NAME
    set_cluster, set_owner, set_body, set_address = _SET_CLUSTER, _SET_OWNER, _SET_BODY, _SET_ADDRESS
    out: list[Manifest] = []
    append = out.append
    for kind, namespace, name, cluster, owner, a in rows:
        m = new_manifest(Manifest)
        body = new_body(ReusedBody)
        set_address(body, a)
        set_kind(m, kind)
        set_namespace(m, namespace)
        set_name(m, name)
        set_body(m, body)
        set_cluster(m, cluster)
        set_owner(m, owner)
        append(m)
    return out


def address(body: Any) -> str | None:
    """The content address of a body: a hash of its JSON bytes; None for a body that has none (a
    non-JSON value, a non-string key, an integer beyond 64 bits: then it is rendered and checked as
    without the cache). NaN and infinities, which orjson writes as `null`, are told apart by the
    standard library's encoder (`NaN`, `Infinity`; its bytes tagged so that they never equal
    orjson's)."""
    if type(body) is ReusedBody:
        return body.address
    try:
        data = orjson.dumps(body, option=_JSON_ONLY)
        if b"null" in data:  # rare: None, or a NaN/infinity orjson wrote as null
            import json

            data = b"\0" + json.dumps(body, allow_nan=True, separators=(",", ":")).encode()
    except (TypeError, ValueError, orjson.JSONEncodeError):
        return None
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def addresses_of(manifests: Sequence[Manifest]) -> list[str | None]:
    """`address` of each manifest's body; a `ReusedBody`'s without a call (most of a recompile's)."""
    return [b.address if type(b) is ReusedBody else address(b) for b in map(_BODY, manifests)]


_BODY = operator.attrgetter("body")


def pack_name(spec: str | Path, overlays: Sequence[Path]) -> str:
    key = "\0".join(os.path.abspath(p) for p in (spec, *overlays))
    return f"build-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pack"


_ADDRESS_OF_ROW = operator.itemgetter(UNIT_COLUMNS.index("address"))
_GATEWAY_KINDS = frozenset({"Gateway", "VirtualService"})
_NONES = itertools.repeat(None)


@dataclass(frozen=True)
class _Units:
    """This compile's units as the pack keeps them (`BuildCache._unit_rows`)."""

    keys: dict[str, str]
    """Unit -> its key, for each unit kept (sorted by name)."""
    rows: dict[str, list[tuple[Any, ...]]]
    """Unit -> its objects' rows (as in UNIT_COLUMNS), same order; a reused unit's list is the
    very list the pack's rows were loaded into."""
    services: dict[str, str]
    """Service -> the hash of its part of the spec."""
    findings: dict[str, list[Any]]
    """Unit -> its services' local rule findings (`pipeline.FindingRow`s), for the units kept."""
    gateways: dict[str, tuple[str, str]]
    """Gateway -> (its unit, the key of its objects), for the units kept."""

    def section(
        self, units: Sequence[str], services: Sequence[str], findings: Sequence[str]
    ) -> dict[str, Any]:
        """The pack's units section holding these units, services and units' findings."""
        flat = [row for u in units for row in self.rows[u]]
        columns = [list(c) for c in zip(*flat, strict=True)] if flat else [[] for _ in UNIT_COLUMNS]
        gateways = [(g, u, k) for g, (u, k) in self.gateways.items()]
        return {
            "names": list(units),
            "keys": [self.keys[u] for u in units],
            "counts": [len(self.rows[u]) for u in units],
            "columns": columns,
            "services": [list(services), [self.services[s] for s in services]],
            "findings": {u: self.findings[u] for u in findings},
            "gateways": [list(c) for c in zip(*gateways, strict=True)] if gateways else [[], [], []],
        }

    def whole(self) -> dict[str, Any]:
        """The pack's units section holding every unit kept."""
        return self.section(list(self.rows), list(self.services), list(self.findings))


class _Saving(NamedTuple):
    """What `BuildCache._save` writes (see there)."""

    entries: dict[str, bytes | None]
    target: str | None
    marker_ns: int
    tree: dict[str, IndexEntry]
    units: _Units
    folders: dict[str, str]


@dataclass
class BuildCache:
    """The cache of one spec: what the last compile left (texts, `tree`) and what this one adds."""

    path: Path | None
    """The pack file (None: caching is off; the object then only carries this compile's results)."""
    segments: list[bytes | mmap.mmap] = field(default_factory=list)
    """The texts' files (see `open_cache`), mapped and checked; text i is
    `segments[segment[i]][starts[i]:ends[i]]`, UTF-8."""
    segment_names: list[str] = field(default_factory=list)
    segment_crcs: list[int] = field(default_factory=list)
    """The CRC-32 of each texts file, as checked when it was read."""
    segment: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    spans: dict[Any, int] = field(default_factory=dict)
    """body address -> the number of its text."""
    tree_target: str | None = None
    tree_marker_ns: int = 0
    tree: dict[str, IndexEntry] = field(default_factory=dict)
    tree_folders: dict[str, str] = field(default_factory=dict)
    """Each folder of the tree ("" for the tree itself) -> the `outdir.digest` of its entries as
    recorded (empty: no folder is vouched for, and the tree is written whole)."""
    tree_texts_kept: bool = False
    """Whether the texts hold every body of `tree` (a compile to a stream keeps only its own)."""
    warnings: list[str] = field(default_factory=list)
    """MC220 lines: why the pack on disk was ignored."""
    addresses: list[str | None] = field(default_factory=list)
    """The address of each body of this compile (`prepare`)."""
    addressed: Sequence[Manifest] | None = None
    """The manifests `addresses` are of (`prepare`)."""
    written: tuple[str, int, dict[str, IndexEntry], dict[str, bytes | None], dict[str, str]] | None = None
    """(target, marker mtime, index, this tree's texts: None for one the cache holds, its folders'
    digests) of the tree `-o DIR` wrote."""
    written_addresses: list[str | None] = field(default_factory=list)
    """The address of each object `-o DIR` wrote, in the order of the manifests."""
    save_seconds: float = 0.0
    units: dict[str, tuple[str, list[tuple[Any, ...]]]] = field(default_factory=dict)
    """The previous compile's units: namespace -> (key, its objects' rows as in UNIT_COLUMNS)."""
    unit_keys: dict[str, str] | None = None
    """This compile's keys of units whose objects may be kept for the next one (`keep_units`)."""
    services: dict[str, str] = field(default_factory=dict)
    """Service -> the hash of its part of the spec, as the previous compile saw it (`units`);
    replaced by this compile's (`keep_units`)."""
    gateways: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Gateway -> (its namespace, the key of its Gateway and VirtualService there) as the previous
    compile saw it (`units.gateway_keys`), for the gateways of the units it kept."""
    kept_gateways: dict[str, tuple[str, str]] = field(default_factory=dict)
    findings: dict[str, list[Any]] = field(default_factory=dict)
    """Unit -> the local rules' findings of its services in the previous compile (rows as in
    `pipeline.FindingRow`), for every unit kept."""
    kept_findings: dict[str, list[Any]] = field(default_factory=dict)
    """This compile's local findings per unit (`keep_findings`)."""
    manifests: Sequence[Manifest] = ()
    """This compile's objects, aligned with `addresses` (`keep_units`)."""
    kept_services: dict[str, str] = field(default_factory=dict)
    reused_units: frozenset[str] = frozenset()
    """The units this compile took from the pack unchanged (`keep_units`)."""
    base: memoryview | None = None
    """The pack's last whole index as it is on disk (its length line and JSON), which a save that
    changed little writes again as it is (`_save_delta`); None when there is none to build on."""
    base_crc: int = 0
    """The CRC-32 of `base` (the running checksum of the pack up to its delta)."""
    base_size: int = 0
    """How many entries `base` holds (texts, files, units' rows, services): the yardstick of
    `DELTA_SHARE`."""
    delta_texts: tuple[list[str], list[int], list[int], list[int]] = ([], [], [], [])
    """The texts the loaded delta added to `base`: addresses, files, starts, ends."""
    delta_paths: set[str] = field(default_factory=set)
    """The files of the tree the loaded delta set or removed (and so on for units, services and
    units' findings): the next delta holds them again, with their values then."""
    delta_units: set[str] = field(default_factory=set)
    delta_services: set[str] = field(default_factory=set)
    delta_findings: set[str] = field(default_factory=set)
    _edited: tuple[dict[str, str], list[str]] | None = None
    early_scan: EarlyScan | None = None
    """The listing of the previous tree's folders, started while this compile parses the spec
    (`parallel.scanning_early`); the write to that tree takes it under its lock."""

    def text(self, a: str | None) -> bytes | None:
        """The rendered text (UTF-8) of the body at address `a`, which passed the self-check in an
        earlier compile; None if the cache does not know it."""
        i = self.spans.get(a) if a is not None else None
        if i is None:
            return None
        return self.segments[self.segment[i]][self.starts[i] : self.ends[i]]

    # --- this compile ---------------------------------------------------------------------------

    def reusable(self, keys: dict[str, str]) -> dict[str, list[Manifest]]:
        """The objects of each unit whose key is the previous compile's, as `Manifest`s with a
        `ReusedBody`; a unit whose texts the pack does not all hold is not reused."""
        found: dict[str, list[Manifest]] = {}
        spans = self.spans
        for unit, key in keys.items():
            previous = self.units.get(unit)
            if previous is None or previous[0] != key:
                continue
            rows = previous[1]
            if not all(map(spans.__contains__, map(_ADDRESS_OF_ROW, rows))):
                continue
            found[unit] = reused_manifests(rows)
        return found

    def reusable_gateway(self, name: str, unit: str, key: str) -> list[Manifest] | None:
        """The Gateway and VirtualService of gateway `name` in `unit` as the previous compile left
        them (`Manifest`s with a `ReusedBody`), if their key (`units.gateway_keys`) is `key` and
        the pack holds their texts; else None."""
        previous = self.units.get(unit)
        if previous is None or self.gateways.get(name) != (unit, key):
            return None
        owner = f"gateway/{name}"
        rows = [r for r in previous[1] if r[4] == owner and r[0] in _GATEWAY_KINDS and r[1] == unit]
        if [r[0] for r in rows].count("Gateway") != 1 or not all(
            map(self.spans.__contains__, map(_ADDRESS_OF_ROW, rows))
        ):
            return None
        return reused_manifests(rows)

    def keep_units(
        self,
        keys: dict[str, str],
        manifests: Sequence[Manifest],
        services: dict[str, str],
        reused: frozenset[str] = frozenset(),
        gateways: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        """Keep this compile's units with `keys` (volatile ones left out) and the hashes of its
        `services` for the next compile; saved with the texts once every object is addressed.
        `reused`: the units whose objects in `manifests` are those `reusable` made of the pack's
        rows, in their order: their rows are saved as they were loaded. `gateways`: the keys of
        the gateways' objects (`units.gateway_keys`), saved for the units saved."""
        self.unit_keys = keys
        self.kept_gateways = gateways or {}
        self.manifests = manifests
        self.kept_services = services
        self.reused_units = reused

    def edited_services(self, services: dict[str, str]) -> list[str]:
        """The services of `services` (service -> the hash of its part of the spec) whose hash is
        not the previous compile's, new ones included; worked out once per dict, for lowering
        (what the behaviour verifier probes) and for the save (`_save_delta`). The first call comes
        before the rules fork (`pipeline.Steps.unit_keys`), while the pages of the hashes are still
        this process's alone."""
        if self._edited is None or self._edited[0] is not services:
            old = self.services
            self._edited = (services, [k for k, d in services.items() if old.get(k) != d])
        return self._edited[1]

    def keep_findings(self, rows: dict[str, list[Any]]) -> None:
        """This compile's local rule findings per unit, saved with the units they belong to."""
        self.kept_findings = rows

    def _unit_rows(self, addresses: Sequence[str | None]) -> _Units:
        """The units the pack keeps: each kept unit's key and rows (a unit with an object that has
        no address is not kept: it could not be rendered from the cache), sorted by name."""
        keys = self.unit_keys
        if keys is None:
            return _Units({}, {}, {}, {}, {})
        # A reused unit's rows are the pack's: its objects were made of them (`reusable`), in
        # their order, each address its row's, under the same key (tests/test_incremental.py
        # holds them equal to the rows built anew); only the other units' objects make rows.
        reused = {u: self.units[u][1] for u in self.reused_units if u in keys and u in self.units}
        rows: dict[str, list[tuple[Any, ...]]] = {}
        broken = set()
        for m, a in zip(self.manifests, addresses, strict=True):
            unit = m.namespace or m.name
            if unit not in keys or unit in reused:
                continue
            if a is None:
                broken.add(unit)
            rows.setdefault(unit, []).append((m.kind, m.namespace, m.name, m.cluster, m.owner, a))
        rows.update(reused)
        for unit in keys:  # a unit that holds nothing under its key (a gateway's pods' namespace
            rows.setdefault(unit, [])  # without policies): reused as nothing, not lowered each time
        kept = {u: rows[u] for u in sorted(rows) if u not in broken}
        return _Units(
            {u: keys[u] for u in kept},
            kept,
            self.kept_services,
            {u: self.kept_findings[u] for u in kept if u in self.kept_findings},
            {g: (u, k) for g, (u, k) in sorted(self.kept_gateways.items()) if u in kept},
        )

    def prepare(self, manifests: Sequence[Manifest]) -> None:
        """Address every body of this compile (after lowering, for a compile to a stream; the
        writers of `-o DIR` address their own shares)."""
        self.addresses = addresses_of(manifests)
        self.addressed = manifests

    def known(self, i: int) -> str | None:
        """The cached text of body `i` of `prepare`'s manifests, or None."""
        text = self.text(self.addresses[i]) if i < len(self.addresses) else None
        return None if text is None else text.decode()

    def unchecked(self, manifests: Sequence[Manifest]) -> list[Manifest]:
        """The manifests whose body the cache does not know passed the self-check."""
        if len(manifests) != len(self.addresses):
            raise ValueError("unchecked: the manifests are not the ones `prepare` addressed")
        spans = self.spans
        if None in spans:  # never from a pack (its addresses are strings); a body without one is unknown
            spans = {a: n for a, n in spans.items() if a is not None}
        known = map(spans.__contains__, self.addresses)
        return list(itertools.compress(manifests, map(operator.not_, known)))

    def record_tree(
        self,
        target: str,
        marker_ns: int,
        paths: Sequence[str],
        records: Sequence[FileRecord],
        folders: dict[str, str] | None,
    ) -> None:
        """What `-o DIR` wrote into its staging tree (`emit.FileRecord`s): texts it rendered anew
        and each file's status, and each folder's digest (None: they could not all be listed,
        then no file is vouched for), kept for `save_tree` (once the tree is swapped in)."""
        texts: dict[str, bytes | None] = {}
        tree: dict[str, IndexEntry] = {}
        spans = self.spans
        for i, dev, ino, size, mtime_ns, a, data in records:
            if a is None:
                folders = None  # a file the index cannot hold: its folder cannot be vouched for
                continue
            assert data is not None or a in spans  # a record without its text is of a text the cache had
            texts[a] = data
            tree[paths[i]] = (dev, ino, size, mtime_ns, a)
        self.written = (target, marker_ns, tree if folders else {}, texts, folders or {})
        addresses: list[str | None] = [None] * len(paths)
        for record in records:
            addresses[record[0]] = record[5]
        self.written_addresses = addresses

    def record_part(
        self,
        target: str,
        marker_ns: int,
        tree: dict[str, IndexEntry],
        addresses: list[str | None],
        texts: dict[str, bytes | None],
        folders: dict[str, str],
    ) -> None:
        """What `-o DIR` made of the tree when it replaced one folder of it, or none: the new
        index (`tree`, `folders`), every body's address and the `texts` rendered anew (None for
        one the cache holds), kept for `save_tree`."""
        entries: dict[str, bytes | None] = dict.fromkeys(a for a in addresses if a is not None)
        entries.update(texts)
        if None in addresses:
            folders = {}  # a file the index cannot hold (no address): no folder is vouched for
        self.written = (target, marker_ns, tree if folders else {}, entries, folders)
        self.written_addresses = addresses

    # --- writing the pack ---------------------------------------------------------------------------

    def save_stream(self, texts: Sequence[str]) -> None:
        """After a compile to a stream: its texts (aligned with `prepare`'s manifests); the index of
        the output tree is kept (DIR is as the last `-o DIR` left it)."""
        if self.path is None:
            return
        wanted = {a: t for a, t in zip(self.addresses, texts, strict=True) if a is not None}
        units = self._unit_rows(self.addresses)
        if wanted.keys() == self.spans.keys() and self._same_units(units):
            return  # the pack holds exactly these texts and units already (an unchanged spec)
        spans = self.spans
        entries = {a: None if a in spans else t.encode() for a, t in wanted.items()}
        self._save(entries, self.tree_target, self.tree_marker_ns, self.tree, units, self.tree_folders)

    def _same_units(self, units: _Units) -> bool:
        return (
            units.keys == {u: key for u, (key, _) in self.units.items()} and units.gateways == self.gateways
        )

    def save_tree(self) -> None:
        """After `-o DIR` swapped in the tree `record_tree` saw: its texts and its index."""
        if self.written is None:
            # DIR needed no write (every file was already the wanted one): the index still
            # describes it, but an incremental compile's units may have new keys to keep.
            if self.unit_keys is not None and self.addressed is self.manifests:
                units = self._unit_rows(self.addresses)
                if not self._same_units(units):
                    entries: dict[str, bytes | None] = {a: None for a in self.addresses if a is not None}
                    self._save(
                        entries, self.tree_target, self.tree_marker_ns, self.tree, units, self.tree_folders
                    )
            return
        target, marker_ns, tree, texts, folders = self.written
        self._save(texts, target, marker_ns, tree, self._unit_rows(self.written_addresses), folders)

    def _save(
        self,
        entries: dict[str, bytes | None],
        target: str | None,
        marker_ns: int,
        tree: dict[str, IndexEntry],
        units: _Units,
        folders: dict[str, str],
    ) -> None:
        """Write the pack atomically; any failure leaves the cache as it was (only an optimisation).

        `entries`: every text this compile's output holds, None for one the cache holds already.
        Only the new texts are written, into a new texts file, and the files the previous pack used
        are kept as long as most of their bytes are still wanted: a one-service change writes a
        few kilobytes of texts, not the mesh's 55 MB. When less than half of the kept files'
        bytes are still wanted, every wanted text is written into one new file instead
        (compaction); when there would be more than MAX_SEGMENTS files, the wanted texts of the
        small ones (less than 1/(2 * MAX_SEGMENTS) of the bytes each) go into the new one.

        The index is written whole (`_save_whole`), or, when this compile changed little of what
        the last whole one wrote, as that index's bytes unchanged followed by what differs from it
        (`_save_delta`)."""
        if self.path is None:
            return
        start = time.perf_counter()
        saving = _Saving(entries, target, marker_ns, tree, units, folders)
        try:
            if not self._save_delta(saving):
                self._save_whole(saving)
        finally:
            self.save_seconds = time.perf_counter() - start

    def _save_whole(self, saving: _Saving) -> None:
        assert self.path is not None
        entries, target, marker_ns, tree, units, folders = saving
        spans, segment, starts, ends = self.spans, self.segment, self.starts, self.ends
        # Per entry at C speed (map, compress): a recompile's 80,000 entries are mostly known.
        fresh = {
            a: data
            for a, data in itertools.compress(entries.items(), map(operator.is_not, entries.values(), _NONES))
            if a not in spans
        }
        numbers = list(map(spans.get, entries))
        holds = list(map(operator.is_not, numbers, _NONES))
        found_addresses = list(itertools.compress(entries, holds))
        at = cast("list[int]", list(itertools.compress(numbers, holds)))
        numbered = list(map(segment.__getitem__, at))
        sizes_at = list(map(operator.sub, map(ends.__getitem__, at), map(starts.__getitem__, at)))
        live = [0] * len(self.segments)
        for k in set(numbered):  # a few files: the bytes each still holds, summed at C speed
            live[k] = sum(itertools.compress(sizes_at, map(k.__eq__, numbered)))
        kept = [k for k, n in enumerate(live) if n]
        old_bytes = sum(len(self.segments[k]) for k in kept)
        # Too many files, mostly still wanted (a series of small edits, each adding one): the
        # wanted texts of the small ones join the new ones in one new file, and the big ones (the
        # first compile's, 66 MB at 10,000 services) stay as they are; if most files are big,
        # every text is written into one (compaction).
        big = [k for k in kept if len(self.segments[k]) * 2 * MAX_SEGMENTS >= old_bytes]
        crowded = len(kept) + bool(fresh) > MAX_SEGMENTS
        compact = sum(live) * 2 < old_bytes or (crowded and len(big) >= MAX_SEGMENTS - 1)
        names: list[str] = []
        parts: list[list[Any]] = [[], [], [], []]  # address, segment, start, end
        if compact:
            texts = {**{a: self.text(a) for a in entries if a in spans}, **fresh}
            kept, fresh = [], texts
        elif crowded:
            small = set(kept) - set(big)
            moved = itertools.compress(found_addresses, map(small.__contains__, numbered))
            fresh = {**{a: self.text(a) for a in moved}, **fresh}
            kept = big
        number = {k: n for n, k in enumerate(kept)}
        for k in kept:
            names.append(self.segment_names[k])
        if at and len(number) == len(self.segments) and all(k == n for k, n in number.items()):
            # Every file kept, numbered as before (the common case): the spans as they were.
            parts = [
                found_addresses,
                numbered,
                list(map(starts.__getitem__, at)),
                list(map(ends.__getitem__, at)),
            ]
        else:
            # Some files dropped or renumbered (every recompile after one that replaced a text the
            # previous one wrote): the spans in the kept files, renumbered, at C speed as well.
            inside = list(map(number.__contains__, numbered))
            parts = [
                list(itertools.compress(found_addresses, inside)),
                list(map(number.__getitem__, itertools.compress(numbered, inside))),
                list(itertools.compress(map(starts.__getitem__, at), inside)),
                list(itertools.compress(map(ends.__getitem__, at), inside)),
            ]
        sizes = [len(self.segments[k]) for k in kept]
        crcs = [self.segment_crcs[k] for k in kept]  # checked when read
        if fresh:
            written = _write_texts(self.path, fresh, len(names), parts)
            if written is None:
                return
            names.append(written[0])
            sizes.append(written[1])
            crcs.append(written[2])
        content = _index_json(names, sizes, crcs, parts, target, marker_ns, tree, sorted(tree), folders)
        index = orjson.dumps({**content, "units": units.whole()})
        payload = [b"%d\n" % len(index), index]
        checksum = 0
        for part in payload:
            checksum = zlib.crc32(part, checksum)
        if _write_atomically(self.path, [MAGIC, _header(), b"\n%08x\n" % checksum, *payload]):
            for old in set(self.segment_names) - set(names):  # the previous pack's, now unused
                with contextlib.suppress(OSError):
                    os.unlink(self.path.parent / old)
        _remove_stale_temporaries(self.path, names)
        _evict(self.path.parent)

    def _save_delta(self, saving: _Saving) -> bool:
        """Save the pack as the index of the last whole save (`base`, its bytes as they are) and
        what differs from it now (`delta`); False, with nothing written, when there is no such
        index or what differs is more than 1/DELTA_SHARE of it (then `_save_whole` writes it whole,
        and drops the texts no longer wanted).

        A one-service recompile at 10,000 services changes ~3,000 of the index's ~260,000 entries
        (its namespace folder's files, the rows of the units whose key changed): writing the index
        whole (re-serialised, 22 MB) cost 0.17-0.30 s of a 2-2.5 s recompile.
        What differs is found by identity at C speed: the tree and the units' rows of everything
        this compile kept are the very objects the pack was loaded into. The delta is cumulative
        (each one holds everything that differs from the base, the last delta's entries
        included), so a pack is at most two indexes. Texts are only added in this mode: one no
        longer wanted stays, and no texts file is dropped, until the next whole save."""
        if self.base is None:
            return False
        assert self.path is not None
        entries, target, marker_ns, tree, units, folders = saving
        spans = self.spans
        fresh = {
            a: data
            for a, data in itertools.compress(entries.items(), map(operator.is_not, entries.values(), _NONES))
            if a not in spans
        }
        if fresh and len(self.segments) >= MAX_SEGMENTS:
            return False
        before = self.tree
        paths = set(self.delta_paths)
        if tree is not before:
            # By identity: a file this compile did not touch keeps the very entry it was loaded as.
            changed = list(
                itertools.compress(tree, map(operator.is_not, map(before.get, tree), tree.values()))
            )
            paths.update(changed)
            if len(before) != len(tree) - sum(p not in before for p in changed):  # files that went away
                paths.update(before.keys() - tree.keys())
        old_units = self.units
        unit_names = self.delta_units.union(
            [
                u
                for u, rows in units.rows.items()
                if u not in old_units or (old_units[u][1] is not rows and old_units[u][1] != rows)
            ],
            [u for u, key in units.keys.items() if u in old_units and old_units[u][0] != key],
            old_units.keys() - units.rows.keys(),
        )
        old_services = self.services
        edited = self.edited_services(units.services)
        service_names = self.delta_services.union(edited)
        if len(old_services) != len(units.services) - sum(s not in old_services for s in edited):
            service_names.update(old_services.keys() - units.services.keys())  # services that went away
        old_findings = self.findings
        finding_units = self.delta_findings.union(
            [u for u, f in units.findings.items() if not _same_rows(old_findings.get(u), f)],
            old_findings.keys() - units.findings.keys(),
        )
        texts = self.delta_texts
        size = (
            len(texts[0])
            + len(fresh)
            + len(paths)
            + sum(len(units.rows.get(u, ())) + 1 for u in unit_names)
            + len(service_names)
            + len(finding_units)
        )
        if size * DELTA_SHARE > self.base_size:
            return False
        parts: list[list[Any]] = [list(c) for c in texts]
        names = list(self.segment_names)
        sizes = [len(s) for s in self.segments]
        crcs = list(self.segment_crcs)
        if fresh:
            written = _write_texts(self.path, fresh, len(names), parts)
            if written is None:
                return True  # nothing saved, as `_save_whole` when it cannot write the texts
            names.append(written[0])
            sizes.append(written[1])
            crcs.append(written[2])
        kept_paths = sorted(p for p in paths if p in tree)
        kept_units = sorted(u for u in unit_names if u in units.rows)
        section = units.section(
            kept_units,
            sorted(s for s in service_names if s in units.services),
            sorted(u for u in finding_units if u in units.findings),
        )
        section["removed"] = sorted(unit_names - units.rows.keys())
        section["services_removed"] = sorted(service_names - units.services.keys())
        section["findings_removed"] = sorted(finding_units - units.findings.keys())
        content = _index_json(names, sizes, crcs, parts, target, marker_ns, tree, kept_paths, folders)
        content["tree"]["removed"] = sorted(p for p in paths if p not in tree)
        delta = orjson.dumps({**content, "units": section})
        payload = [b"%d\n" % len(delta), delta]
        checksum = self.base_crc
        for part in payload:
            checksum = zlib.crc32(part, checksum)
        _write_atomically(self.path, [MAGIC, _header(), b"\n%08x\n" % checksum, self.base, *payload])
        _remove_stale_temporaries(self.path, names)
        _evict(self.path.parent)
        return True


def _same_rows(loaded: list[Any] | None, rows: list[Any]) -> bool:
    """Whether a unit's findings rows as loaded (JSON: each row a list) are `rows` (tuples)."""
    return (
        loaded is not None and len(loaded) == len(rows) and list(map(tuple, loaded)) == list(map(tuple, rows))
    )


def _index_json(
    names: list[str],
    sizes: list[int],
    crcs: list[int],
    parts: list[list[Any]],
    target: str | None,
    marker_ns: int,
    tree: dict[str, IndexEntry],
    paths: list[str],
    folders: dict[str, str],
) -> dict[str, Any]:
    """An index (or a delta) as the pack holds it, but its units: the texts files, the texts'
    spans (`parts`: addresses, files, starts, ends), and the tree's `paths` with their entries."""
    return {
        "segments": {"names": names, "sizes": sizes, "crcs": crcs},
        "texts": {"addresses": parts[0], "segment": parts[1], "starts": parts[2], "ends": parts[3]},
        "tree": {
            "target": target,
            "marker_ns": marker_ns,
            "paths": paths,
            "columns": [list(c) for c in zip(*map(tree.__getitem__, paths), strict=True)]
            if paths
            else [[] for _ in range(5)],
            "folders": sorted(folders),
            "digests": [folders[f] for f in sorted(folders)],
        },
    }


def _header() -> bytes:
    return orjson.dumps({"format": FORMAT, "fingerprint": fingerprint()})


def _write_texts(
    pack: Path, fresh: dict[str, bytes | None], number: int, parts: list[list[Any]]
) -> tuple[str, int, int] | None:
    """The `fresh` texts written into a new texts file of `pack`, file `number` of the index, their
    spans appended to `parts` (address, file, start, end): (its name, size, CRC-32), or None when
    it cannot be written."""
    offset, chunks = 0, []
    for a, data in fresh.items():
        assert data is not None
        parts[0].append(a)
        parts[1].append(number)
        parts[2].append(offset)
        offset += len(data)
        parts[3].append(offset)
        chunks.append(data)
    blob = b"".join(chunks)
    name = _write_segment(pack, blob)
    return None if name is None else (name, len(blob), zlib.crc32(blob))


def open_cache(spec: str | Path, overlays: Sequence[Path] = (), *, enabled: bool = True) -> BuildCache:
    """The cache of `spec` as the last compile left it; empty when there is none, when caching is
    off (then nothing is written either), or when the pack is unusable (then `warnings` says why,
    and this compile replaces it)."""
    directory = diskcache.cache_dir() if enabled else None
    if directory is None:
        return BuildCache(None)
    path = directory / pack_name(spec, overlays)
    cache = BuildCache(path)
    try:
        data = _read(path)
    except FileNotFoundError:
        return cache
    except OSError as exc:
        return _ignored(cache, f"cannot read it: {exc.strerror or exc}")
    if data is None:
        return _ignored(cache, "it is not a regular file")
    problem = _load(cache, data)
    if problem is not None:
        cache.segments, cache.segment_names, cache.segment, cache.starts, cache.ends = [], [], [], [], []
        cache.segment_crcs = []
        cache.spans, cache.tree, cache.tree_target, cache.tree_folders = {}, {}, None, {}
        cache.units, cache.services, cache.findings, cache.gateways = {}, {}, {}, {}
        cache.base = None
        return _ignored(cache, problem)
    return cache


def _ignored(cache: BuildCache, reason: str) -> BuildCache:
    cache.warnings.append(
        f"meshc: warning {CODE}: cache ignored: {cache.path}: {reason}\n"
        "  hint: it is rebuilt by this run; nothing in it was used"
    )
    return cache


def _read(path: Path) -> bytes | mmap.mmap | None:
    """The bytes of the regular file at `path`, mapped (None: not a regular file).

    Mapped, not read: at 10,000 services the pack and its texts files are ~90 MB, and reading them
    cost a recompile 0.07 s (22,000 page faults for fresh memory and the copy); the mapping shares
    the page cache's pages (0.02 s with the checksums), and a recompile reads ~0.3 MB of the
    texts. meshc never changes a pack or a texts file in place (each is written whole, then renamed
    into place), so the mapping keeps the bytes that were checked when another compile replaces or
    evicts a file meanwhile. Like git's packfiles, they must not be changed in place by anyone
    else while a compile runs: bytes overwritten in place would be read as they are, and a file
    truncated in place ends the compile at the next read of a lost page (SIGBUS; nothing is
    left half-written: a stream is written once every text is in hand, a directory is staged and
    swapped whole): `_guard` makes that a diagnostic and EXIT_USAGE. A filesystem that cannot map
    files (some FUSE mounts) gets them read."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size == 0:
            return b""
        try:
            mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        except (OSError, ValueError):  # no mapping there (ENODEV): the cache still helps, read
            pass
        else:
            _guard(mapped, path)
            return mapped
        # One read of the whole file (no copy to join chunks); the loop only runs for a file that
        # grew meanwhile (then the checksum decides).
        chunks = [os.read(fd, info.st_size + 1)]
        while chunks[-1] and (chunk := os.read(fd, 1 << 24)):
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def _guard(mapped: mmap.mmap, path: Path) -> None:
    """A read of a page of `mapped` that someone took away by truncating its file in place ends
    the compile with a diagnostic and EXIT_USAGE, not with a bare SIGBUS (the native
    `guard_mapping`; without the extension, the signal ends it as it would)."""
    guard = _native_guard()
    if guard is not None:
        message = (
            f"meshc: error: a build cache file in {path.parent} changed while this compile read it"
            " (truncated in place); the compile stopped\n  hint: run it again; meshc replaces its"
            " cache files whole, never copy or restore over them while meshc runs\n"
        )
        guard(mapped, message.encode(errors="replace"), EXIT_USAGE)


@cache
def _native_guard() -> Any:
    from meshc.spec.native import extension

    emitc = extension("meshc.compiler._emitc")
    return None if emitc is None else emitc.guard_mapping


def _load(cache: BuildCache, data: bytes | mmap.mmap) -> str | None:
    """Fill `cache` from a pack's bytes; the reason it cannot be trusted, or None.

    A pack: MAGIC, a header line (JSON: format, fingerprint), a checksum line (CRC-32 of the rest,
    hex), a line with the length of the index, the index (JSON: the texts files with their sizes
    and CRC-32s, each text's address, file and span, the output tree, the units), and optionally
    a line with the length of a delta and the delta (JSON: what differs from that index, see
    `BuildCache._save_delta`). The texts files (`<pack>.<random>.texts`, beside the pack) are
    mapped and checked here too: a missing, changed or damaged one makes the whole pack
    untrusted."""
    if data[: len(MAGIC)] != MAGIC:
        return "not a meshc build cache"
    view = memoryview(data)
    cuts = [len(MAGIC) - 1]
    for _ in range(3):
        cut = data.find(b"\n", cuts[-1] + 1)
        if cut < 0:
            return "truncated"
        cuts.append(cut)
    header_bytes, checksum, length = (bytes(view[a + 1 : b]) for a, b in itertools.pairwise(cuts))
    try:
        header = orjson.loads(header_bytes)
    except orjson.JSONDecodeError:
        return "damaged header"
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return "written in another format (another meshc version)"
    if header.get("fingerprint") != fingerprint():
        return "written by another meshc (its code, schemas or libraries differ)"
    base_end = min(cuts[3] + 1 + int(length), len(data)) if length.isdigit() else len(data)
    base_crc = zlib.crc32(view[cuts[2] + 1 : base_end])
    if b"%08x" % zlib.crc32(view[base_end:], base_crc) != checksum:
        return "checksum mismatch (damaged or truncated)"
    if not length.isdigit():
        return "malformed content"
    try:
        index = _index(orjson.loads(view[cuts[3] + 1 : base_end]))
        tail = view[base_end:]
        delta = None
        if tail:
            cut = bytes(tail[:24]).find(b"\n")
            if cut < 1 or not bytes(tail[:cut]).isdigit() or int(bytes(tail[:cut])) != len(tail) - cut - 1:
                return "malformed content"
            delta = _index(orjson.loads(tail[cut + 1 :]), delta=True)
    except (ValueError, orjson.JSONDecodeError, KeyError, TypeError):
        return "malformed content"
    if not _well_formed(cache.path, index) or (delta is not None and not _well_formed(cache.path, delta)):
        return "malformed content"
    names, sizes, crcs = index["names"], index["sizes"], index["crcs"]
    if delta is not None:
        if [c[: len(names)] for c in (delta["names"], delta["sizes"], delta["crcs"])] != [names, sizes, crcs]:
            return "malformed content"  # a delta only adds texts files
        names, sizes, crcs = delta["names"], delta["sizes"], delta["crcs"]
    loaded = []
    for name, expected_size, crc in zip(names, sizes, crcs, strict=True):
        assert cache.path is not None
        try:
            blob = _read(cache.path.parent / name)
        except OSError as exc:
            return f"texts file {name}: cannot read it: {exc.strerror or exc}"
        if blob is None or len(blob) != expected_size or zlib.crc32(blob) != crc:
            return f"texts file {name}: checksum mismatch (damaged, truncated or replaced)"
        loaded.append(blob)
    _fill(cache, index)
    cache.segments, cache.segment_names, cache.segment_crcs = loaded, names, crcs
    cache.base, cache.base_crc = view[cuts[2] + 1 : base_end], base_crc
    cache.base_size = (
        len(index["addresses"])
        + len(index["paths"])
        + len(index["unit_columns"][0])
        + len(index["service_keys"])
    )
    if delta is not None:
        _apply(cache, delta)
    return None


_INDEX_FIELDS = {
    "segments": ("names", "sizes", "crcs"),
    "texts": ("addresses", "segment", "starts", "ends"),
    "tree": ("target", "marker_ns", "paths", "columns", "folders", "digests"),
    "units": ("names", "keys", "counts", "columns", "services", "findings", "gateways"),
}


def _index(content: Any, *, delta: bool = False) -> dict[str, Any]:
    """The fields of an index (or a delta's), by name; KeyError or TypeError when one is missing."""
    found: dict[str, Any] = {}
    for section, names in _INDEX_FIELDS.items():
        part = content[section]
        for name in names:
            found[name if section != "units" else f"unit_{name}"] = part[name]
    found["service_keys"], found["service_digests"] = found.pop("unit_services")
    found["gateway_names"], found["gateway_units"], found["gateway_keys"] = found.pop("unit_gateways")
    if delta:
        found["removed"] = content["tree"]["removed"]
        for name in ("removed", "services_removed", "findings_removed"):
            found[f"units_{name}"] = content["units"][name]
    return found


def _well_formed(pack: Path | None, index: dict[str, Any]) -> bool:
    """Whether an index's (or a delta's) fields have the types and shapes they are used with,
    checked at C speed: an address or path of another type only never matches, each text's span
    lies within its file, the tree's columns are aligned."""
    names, sizes, crcs = index["names"], index["sizes"], index["crcs"]
    addresses, segment, starts, ends = index["addresses"], index["segment"], index["starts"], index["ends"]
    target, marker_ns, paths, columns = index["target"], index["marker_ns"], index["paths"], index["columns"]
    folder_names, folder_digests = index["folders"], index["digests"]
    unit_names, unit_keys, unit_counts = index["unit_names"], index["unit_keys"], index["unit_counts"]
    unit_columns = index["unit_columns"]
    service_keys, service_digests = index["service_keys"], index["service_digests"]
    findings = index["unit_findings"]
    gateway_names, gateway_units, gateway_keys = (
        index["gateway_names"],
        index["gateway_units"],
        index["gateway_keys"],
    )
    removed = [
        index[k]
        for k in ("removed", "units_removed", "units_services_removed", "units_findings_removed")
        if k in index
    ]
    return bool(
        type(names) is list
        and type(sizes) is list
        and type(crcs) is list
        and len(names) == len(sizes) == len(crcs)
        and all(type(n) is str and _segment_name(pack, n) for n in names)
        and set(map(type, sizes)) <= {int}
        and set(map(type, crcs)) <= {int}
        and type(addresses) is list
        and set(map(type, addresses)) <= {str}
        and all(type(c) is list and len(c) == len(addresses) for c in (segment, starts, ends))
        and all(set(map(type, c)) <= {int} for c in (segment, starts, ends))
        and (not segment or (min(segment) >= 0 and max(segment) < len(names)))
        and min(starts, default=0) >= 0
        and all(map(operator.le, starts, ends))
        and all(map(operator.le, ends, map(sizes.__getitem__, segment)))
        and (target is None or type(target) is str)
        and type(marker_ns) is int
        and type(paths) is list
        and type(columns) is list
        and len(columns) == 5
        and all(type(c) is list and len(c) == len(paths) for c in columns)
        and all(set(map(type, c)) <= {int} for c in columns[:4])
        and type(folder_names) is list
        and type(folder_digests) is list
        and len(folder_names) == len(folder_digests)
        and set(map(type, folder_names)) <= {str}
        and set(map(type, folder_digests)) <= {str}
        and type(unit_names) is list
        and type(unit_keys) is list
        and type(unit_counts) is list
        and len(unit_names) == len(unit_keys) == len(unit_counts)
        and set(map(type, unit_names)) <= {str}
        and set(map(type, unit_keys)) <= {str}
        and set(map(type, unit_counts)) <= {int}
        and type(unit_columns) is list
        and len(unit_columns) == len(UNIT_COLUMNS)
        and all(type(c) is list and len(c) == sum(unit_counts) for c in unit_columns)
        and all(set(map(type, c)) <= {str} for c in (unit_columns[0], unit_columns[2], unit_columns[5]))
        and all(
            set(map(type, c)) <= {str, type(None)}
            for c in (unit_columns[1], unit_columns[3], unit_columns[4])
        )
        and min(unit_counts, default=0) >= 0
        and type(service_keys) is list
        and type(service_digests) is list
        and len(service_keys) == len(service_digests)
        and set(map(type, service_keys)) <= {str}
        and set(map(type, service_digests)) <= {str}
        and type(findings) is dict
        and all(type(rows) is list and all(_finding_row(r) for r in rows) for rows in findings.values())
        and type(gateway_names) is list
        and all(type(c) is list and len(c) == len(gateway_names) for c in (gateway_units, gateway_keys))
        and all(set(map(type, c)) <= {str} for c in (gateway_names, gateway_units, gateway_keys))
        and all(type(c) is list and set(map(type, c)) <= {str} for c in removed)
    )


def _rows(index: dict[str, Any]) -> Any:
    """(unit, key, its rows) of each unit of an index, in its order."""
    unit_columns = index["unit_columns"]
    rows = list(zip(*unit_columns, strict=True)) if unit_columns[0] else []
    start = 0
    for unit, key, count in zip(index["unit_names"], index["unit_keys"], index["unit_counts"], strict=True):
        yield unit, key, rows[start : start + count]
        start += count


def _fill(cache: BuildCache, index: dict[str, Any]) -> None:
    """`cache` as a whole index (well formed) describes it."""
    addresses, paths, columns = index["addresses"], index["paths"], index["columns"]
    cache.segment, cache.starts, cache.ends = index["segment"], index["starts"], index["ends"]
    cache.spans = dict(zip(addresses, range(len(addresses)), strict=True))
    cache.tree = dict(zip(paths, zip(*columns, strict=True), strict=True)) if paths else {}
    cache.tree_target, cache.tree_marker_ns = index["target"], index["marker_ns"]
    cache.tree_folders = dict(zip(index["folders"], index["digests"], strict=True))
    cache.tree_texts_kept = all(map(cache.spans.__contains__, columns[4])) if paths else True
    for unit, key, rows in _rows(index):
        cache.units[unit] = (key, rows)
    cache.services = dict(zip(index["service_keys"], index["service_digests"], strict=True))
    cache.findings = index["unit_findings"]
    cache.gateways = _gateways(index)


def _apply(cache: BuildCache, delta: dict[str, Any]) -> None:
    """`cache`, filled from a base index, as its delta (well formed) says it is now."""
    addresses = delta["addresses"]
    first = len(cache.segment)
    cache.segment = cache.segment + delta["segment"]
    cache.starts = cache.starts + delta["starts"]
    cache.ends = cache.ends + delta["ends"]
    cache.spans.update(zip(addresses, range(first, first + len(addresses)), strict=True))
    cache.delta_texts = (addresses, delta["segment"], delta["starts"], delta["ends"])
    paths, removed = delta["paths"], delta["removed"]
    tree = cache.tree
    if paths:
        tree.update(zip(paths, zip(*delta["columns"], strict=True), strict=True))
    for path in removed:
        tree.pop(path, None)
    cache.delta_paths = {*paths, *removed}
    cache.tree_target, cache.tree_marker_ns = delta["target"], delta["marker_ns"]
    cache.tree_folders = dict(zip(delta["folders"], delta["digests"], strict=True))
    cache.tree_texts_kept = all(map(cache.spans.__contains__, map(ADDRESS_OF_ENTRY, tree.values())))
    names = []
    for unit, key, rows in _rows(delta):
        cache.units[unit] = (key, rows)
        names.append(unit)
    for unit in delta["units_removed"]:
        cache.units.pop(unit, None)
    cache.delta_units = {*names, *delta["units_removed"]}
    services = dict(zip(delta["service_keys"], delta["service_digests"], strict=True))
    for service in delta["units_services_removed"]:
        cache.services.pop(service, None)
    cache.services.update(services)
    cache.delta_services = {*services, *delta["units_services_removed"]}
    findings = delta["unit_findings"]
    for unit in delta["units_findings_removed"]:
        cache.findings.pop(unit, None)
    cache.findings.update(findings)
    cache.delta_findings = {*findings, *delta["units_findings_removed"]}
    cache.gateways = _gateways(delta)


def _gateways(index: dict[str, Any]) -> dict[str, tuple[str, str]]:
    units = zip(index["gateway_units"], index["gateway_keys"], strict=True)
    return dict(zip(index["gateway_names"], units, strict=True))


def _finding_row(row: Any) -> bool:
    """A row as `pipeline.FindingRow` (anything else makes the pack malformed)."""
    return (
        type(row) is list
        and len(row) == 7
        and all(type(v) is str for v in row[:3])
        and type(row[3]) is list
        and all(type(v) in (str, int) for v in row[3])
        and type(row[4]) is str
        and all(v is None or type(v) is str for v in row[5:])
    )


_replace = os.replace  # the tests kill a compile here

MAX_SEGMENTS = 8
"""Texts files one pack may use before its texts are written into one again (see `_save`)."""

DELTA_SHARE = 8
"""A save writes the index whole once what differs from the last whole one is more than 1/8 of it
(`BuildCache._save_delta`)."""

MAX_PACKS = 16
"""Packs kept in the cache directory (one per spec path compiled): the least recently written go."""


def _evict(directory: Path) -> None:
    try:
        packs = [
            directory / n for n in os.listdir(directory) if n.startswith("build-") and n.endswith(".pack")
        ]
        if len(packs) <= MAX_PACKS:
            return
        dated = sorted((os.lstat(p).st_mtime_ns, str(p)) for p in packs)
    except OSError:
        return
    for _, path in dated[: len(dated) - MAX_PACKS]:
        with contextlib.suppress(OSError):
            os.unlink(path)
        for name in _segments_of(Path(path)):
            with contextlib.suppress(OSError):
                os.unlink(Path(path).parent / name)


def _segment_name(pack: Path | None, name: str) -> bool:
    """Whether `name` is the name of one of `pack`'s texts files (and nothing else: no path)."""
    if pack is None or not name.startswith(f"{pack.name}.") or not name.endswith(".texts"):
        return False
    token = name[len(pack.name) + 1 : -len(".texts")]
    return len(token) == 16 and all(c in "0123456789abcdef" for c in token)


def _segments_of(pack: Path) -> list[str]:
    try:
        return [n for n in os.listdir(pack.parent) if _segment_name(pack, n)]
    except OSError:
        return []


def _write_segment(pack: Path, blob: bytes) -> str | None:
    """A new texts file of `pack` holding `blob` (written whole, then renamed into place); its
    name, or None when it cannot be written (then nothing is saved)."""
    import secrets

    name = f"{pack.name}.{secrets.token_hex(8)}.texts"
    return name if _write_atomically(pack.parent / name, [blob]) else None


STALE_SECONDS = 600
"""A temporary pack this old is debris of a killed compile (a live writer's is seconds old)."""


def _remove_stale_temporaries(path: Path, used: Sequence[str] = ()) -> None:
    """Temporaries of killed writers, and texts files the pack does not use (`used`) that are as
    old (a killed writer's, or one a concurrent writer's pack used until this one replaced it)."""
    now = time.time()
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(f".{path.name}.")]
    except OSError:
        return
    names += [n for n in _segments_of(path) if n not in used]
    for name in names:
        with contextlib.suppress(OSError):
            stale = path.parent / name
            if now - os.lstat(stale).st_mtime > STALE_SECONDS:
                os.unlink(stale)


def _write_atomically(path: Path, parts: Sequence[bytes | memoryview]) -> bool:
    """Write `path` whole (a temporary, then a rename); whether it was written."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
        if stat.S_ISDIR(os.lstat(path).st_mode if os.path.lexists(path) else 0):
            os.rmdir(path)  # an empty directory where the pack belongs (a fuller one stays: MC220)
        _replace(tmp, path)
        return True
    except OSError:
        return False
    finally:
        if os.path.lexists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
