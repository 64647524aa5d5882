"""Deterministic output: canonical YAML text and an all-or-nothing directory write.

The emitter is a small hand-written block-style YAML writer for JSON-like data: keys sorted,
2-space indent, strings quoted whenever a YAML 1.1 or 1.2 reader could take them for anything but
a string. It is several times faster than PyYAML's C dumper (whose representer runs in Python) and,
unlike a general dumper, has no settings that could make two machines disagree. A property test
checks that `yaml.safe_load(dump(x)) == x`.

The walk exists twice: here in Python (`dump_python`, the reference) and in C (`dump_native`,
compiler/_emitc.c, an optional extension), which calls back into this module for every scalar, key
and cache, so the quoting rules are written once. `dump` is the native walk where it is built;
MESHC_PURE_PYTHON=1 forces the Python one. Tests check that both write the same text.
"""

from __future__ import annotations

import errno
import itertools
import json
import operator
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshc.spec.native import extension

from . import libc, outdir, workers
from .gcpause import gc_paused
from .manifest import Manifest
from .sharedtext import SHARED

if TYPE_CHECKING:
    from meshc.spec.diagnostics import Diagnostic

    from .buildcache import BuildCache

_PLAIN = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_./-]*$"  # names, hosts, label keys
    r"|^/[A-Za-z0-9_./-]*$"  # paths
    r"|^[0-9]+(\.[0-9]+)?(ms|us|ns|s|m|h|Ki|Mi|Gi|Ti|k|M|G)$"  # durations and quantities: never numbers
)
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
"""Escaped in double-quoted scalars: what YAML does not allow raw (DEL, C1 controls, surrogates,
non-characters) and the line breaks it folds (U+0085 NEL, U+2028, U+2029: a reader turns them into
a space or a newline, so the value would not read back as written)."""
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"})
_scalar_cache: dict[str, str] = {}
_json_string: Callable[[str], str] = json.encoder.encode_basestring
"""`json.dumps(value, ensure_ascii=False)` for a str, without its encoder object (a third of the
cost of a quoted scalar)."""

MARKER = ".meshc-output"
"""Written into every output directory; meshc only ever replaces a directory that carries it."""


def _string(value: str) -> str:
    cached = _scalar_cache.get(value)
    if cached is not None:
        return cached
    if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        out = value
    else:
        # A JSON string is a YAML double-quoted scalar; escape what JSON leaves raw but YAML
        # does not allow unescaped or folds (see _UNPRINTABLE).
        out = _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", _json_string(value))
    if len(_scalar_cache) < 200_000:
        _scalar_cache[value] = out
    return out


def _scalar(value: Any) -> str:
    if type(value) is str:
        return _scalar_cache.get(value) or _string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    raise TypeError(f"cannot emit {type(value).__name__}")


# The two functions below are the hot path of writing 100,000 resources: they avoid helper calls
# and intermediate lists. `first` is the prefix of the first line ("- " for a sequence item).


def _render_shared(entry: tuple[Any, dict[str, str]], indent: str, first: str, out: list[str]) -> None:
    """Render a registered shared subtree once for this position and remember the text. The text
    is keyed by `first` alone: `indent` is always as many spaces as `first` is long."""
    item, texts = entry
    rendered: list[str] = []
    if type(item) is dict:
        _mapping(item, indent, first, rendered)
    else:
        _sequence(item, indent, first, rendered)
    text = texts[first] = "".join(rendered)
    out.append(text)


_key_orders: dict[tuple[Any, ...], tuple[tuple[Any, str, bool], ...]] = {}
"""Insertion order of a mapping's keys -> (key, its text, whether it needs the explicit form) in
sorted order. Mappings built by the same lowering code have the same keys in the same order, so
sorting and rendering the keys happens once per shape rather than once per mapping. Only shapes
whose keys are all strings are kept: a key equal to a string is then that string (1 == True would
otherwise mix up `1` and `true`)."""


def _key_order(value: dict[Any, Any]) -> tuple[tuple[Any, str, bool], ...]:
    shape = tuple(value)
    found = _key_orders.get(shape)
    if found is not None:
        return found
    order = []
    for key in sorted(value):
        k = _scalar_cache.get(key) or _string(str(key))
        order.append(
            (key, k, len(k) > _LONGEST_IMPLICIT_KEY // 4 and len(k.encode()) > _LONGEST_IMPLICIT_KEY)
        )
    found = tuple(order)
    if len(_key_orders) < 20_000 and all(type(key) is str for key in shape):
        _key_orders[shape] = found
    return found


def _mapping(value: dict[str, Any], indent: str, first: str, out: list[str]) -> None:
    prefix = first
    deeper = indent + "  "
    for key, k, explicit in _key_orders.get(tuple(value)) or _key_order(value):
        item = value[key]
        kind = type(item)
        if explicit:
            _explicit_entry(k, item, prefix, indent, out)
        elif kind is str:
            out.append(f"{prefix}{k}: {_scalar_cache.get(item) or _string(item)}\n")
        elif kind is dict and item:
            out.append(f"{prefix}{k}:\n")
            entry = SHARED.get(id(item)) if SHARED else None
            if entry is None:
                _mapping(item, deeper, deeper, out)
            else:
                text = entry[1].get(deeper)
                if text is None:
                    _render_shared(entry, deeper, deeper, out)
                else:
                    out.append(text)
        elif kind is list and item:
            out.append(f"{prefix}{k}:\n")
            entry = SHARED.get(id(item)) if SHARED else None
            if entry is None:
                _sequence(item, deeper, deeper, out)
            else:
                text = entry[1].get(deeper)
                if text is None:
                    _render_shared(entry, deeper, deeper, out)
                else:
                    out.append(text)
        else:
            out.append(f"{prefix}{k}: {_scalar(item)}\n")
        prefix = indent


_LONGEST_IMPLICIT_KEY = 1000
"""YAML readers refuse an implicit (`key: value`) key longer than 1024 characters (PyYAML and
libyaml count them differently); a longer key is written in the explicit form (`? key` then
`: value`), which has no limit. Measured in UTF-8 bytes of the written key, a bound on both."""


def _explicit_entry(k: str, item: Any, prefix: str, indent: str, out: list[str]) -> None:
    deeper = indent + "  "
    out.append(f"{prefix}? {k}\n")
    kind = type(item)
    if kind is dict and item:
        out.append(f"{indent}:\n")
        _mapping(item, deeper, deeper, out)
    elif kind is list and item:
        out.append(f"{indent}:\n")
        _sequence(item, deeper, deeper, out)
    else:
        out.append(f"{indent}: {_scalar(item)}\n")


def _sequence(value: list[Any], indent: str, first: str, out: list[str]) -> None:
    dash = first + "- "
    inner = indent + "  "
    for item in value:
        kind = type(item)
        if kind is dict and item:
            entry = SHARED.get(id(item)) if SHARED else None
            if entry is None:
                _mapping(item, inner, dash, out)
            else:
                text = entry[1].get(dash)
                if text is None:
                    _render_shared(entry, inner, dash, out)
                else:
                    out.append(text)
        elif kind is list and item:
            _sequence(item, inner, dash, out)
        else:
            out.append(f"{dash}{_scalar(item)}\n")
        dash = indent + "- "


def dump_python(value: dict[str, Any]) -> str:
    """The reference emitter: `dump`'s text, walked in Python."""
    if not value:
        return "{}\n"
    out: list[str] = []
    _mapping(value, "", "", out)
    return "".join(out)


def _native() -> Callable[[dict[str, Any]], str] | None:
    """The native walk (`_emitc.dump`, built from compiler/_emitc.c when a C compiler was there),
    configured with this module's rules; None without it or with MESHC_PURE_PYTHON=1."""
    _emitc = extension("meshc.compiler._emitc")
    if _emitc is None:
        return None
    _emitc.configure(
        scalar_cache=_scalar_cache,
        string=_string,
        scalar=_scalar,
        key_orders=_key_orders,
        key_order=_key_order,
        shared=SHARED,
    )
    native: Callable[[dict[str, Any]], str] = _emitc.dump
    return native


dump_native = _native()
"""The same text as `dump_python` at a fraction of the cost: the C code walks the data and builds
the text, and uses this module's caches and functions for every scalar and key, so the quoting
rules exist once (here). None where the extension is not built."""

dump: Callable[[dict[str, Any]], str] = dump_native or dump_python
"""A manifest's body as YAML text: keys sorted, block style (the native walk when it is built)."""


def dump_stream(manifests: Sequence[Manifest], texts: Sequence[str] | None = None) -> str:
    """One YAML stream; in a multi-cluster mesh each document is preceded by `# cluster: NAME`.
    `texts`, when given, are the documents already rendered (`dump` of each body)."""
    if texts is None:
        texts = [dump(m.body) for m in manifests]
    return "".join(
        ("---\n" if i else "") + (f"# cluster: {m.cluster}\n" if m.cluster else "") + text
        for i, (m, text) in enumerate(zip(manifests, texts, strict=True))
    )


def relative_path(manifest: Manifest) -> str:
    """Stable layout: `[<cluster>/]<namespace>/<kind>-<name>.yaml` (a Namespace lives in its own folder)."""
    folder = manifest.namespace or manifest.name
    name = f"{folder}/{manifest.kind.lower()}-{manifest.name}.yaml"
    return f"{manifest.cluster}/{name}" if manifest.cluster else name


def relative_paths(manifests: Sequence[Manifest]) -> list[str]:
    """`relative_path` of each manifest, inlined (one call less per file of a big tree, and each
    kind lowercased once); tests/test_emit.py holds them equal."""
    low = {kind: kind.lower() for kind in set(map(operator.attrgetter("kind"), manifests))}
    return [
        f"{m.namespace or m.name}/{low[m.kind]}-{m.name}.yaml" if not m.cluster else relative_path(m)
        for m in manifests
    ]


class OutputError(Exception):
    """The output directory cannot be written or replaced (a usage problem, exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.diagnostics: list[Diagnostic] = []
        """The accepted spec's warnings, set by the pipeline that wrote the output (`pipeline.run`
        with an `output`), for the CLI to show before the error."""


class OutputRejected(Exception):
    """`check` found problems in the output (nothing was written)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


Check = Callable[[Sequence[Manifest]], list[str]]


def write_tree(
    manifests: Iterable[Manifest],
    target: Path,
    *,
    check: Check | None = None,
    cache: BuildCache | None = None,
    gate: Callable[[], None] | None = None,
) -> int:
    """Write every manifest under a temporary sibling of `target`, then swap it in atomically.

    A failure at any point (kill -9 included, see `meshc.compiler.outdir`) leaves the previous `target`
    exactly as it was; debris of earlier killed compiles is removed first. A directory that was not
    written by meshc (no marker file) is never replaced. A symlink `target` is followed: the tree
    is written where it points and the link stays. `check`, when given, runs on each share of the
    manifests in the process that writes it, before any of it is written; if it finds problems
    anywhere, nothing is swapped in and OutputRejected carries them all.

    `cache` (the build cache, see `meshc.compiler.buildcache`; the writers address their own
    shares' bodies): bodies it knows are neither checked nor rendered again, files its index of
    the previous tree vouches for are linked without reading them, and what this write produced
    is recorded in it (`BuildCache.record_tree`) for the next compile.

    `gate`, when given, is called once the new files are staged and before anything in `target`
    changes; when it raises, nothing is swapped in and the exception propagates. A compile stages
    its output while the semantic rules still run (`meshc.compiler.parallel`) and lets the rules'
    verdict open the gate. (When nothing in `target` changes, the gate may not be called.)"""
    with gc_paused():
        known = cache.addresses if cache is not None and cache.addressed is manifests else None
        return _write_tree(manifests, Path(os.path.realpath(target.absolute())), check, cache, known, gate)


def _write_tree(
    manifests: Iterable[Manifest],
    target: Path,
    check: Check | None,
    cache: BuildCache | None,
    known: list[str | None] | None = None,
    gate: Callable[[], None] | None = None,
) -> int:
    """`known`: the bodies' addresses, when the caller has them (an incremental compile)."""
    items = list(manifests)
    parent = target.parent
    made = [p for p in (parent, *parent.parents) if not os.path.lexists(p)]  # deepest first
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create output directory: {exc.strerror}") from None
    try:
        with outdir.writer_lock(parent) as locked:
            if locked:
                outdir.recover_and_clean(target)
            return _write_locked(items, target, check, cache, known, gate)
    except BaseException:
        # Nothing was swapped in (a gate that stayed shut: the rules rejected the spec; a failed
        # write): the folders made on the way go too, as if the write had never started. Only
        # empty ones: another writer may have put something there meanwhile.
        for folder in made:
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise


def _write_locked(
    items: list[Manifest],
    target: Path,
    check: Check | None,
    cache: BuildCache | None,
    known: list[str | None] | None = None,
    gate: Callable[[], None] | None = None,
) -> int:
    previous: str | None = None
    if os.path.lexists(target):
        if not _replaceable(target):
            raise OutputError(
                f"{target}: exists and was not written by meshc (no {MARKER}); refusing to replace it"
            )
        previous = str(target)
    paths = relative_paths(items)
    addresses: list[str | None] | None = None
    if cache is not None and previous is not None and cache.tree_target == previous and cache.tree:
        # Every body's address up front (the writers would compute them anyway): they tell which
        # files changed, and so whether one folder can be replaced instead of the whole tree.
        early = cache.early_scan
        scanned = early.take() if early is not None and early.target == previous else None
        if known is not None and len(known) == len(items):
            addresses = known
            if scanned is None:
                scanned = outdir.scan(str(target), cache.tree_folders, cache.tree_marker_ns)
        elif scanned is not None:
            addresses = _addresses(items)
        else:
            addresses, scanned = _address_and_scan(items, target, cache)
        try:
            if _write_part(items, paths, addresses, scanned, target, check, cache, gate):
                return len(items)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write output: {exc.strerror}") from None
    try:
        staging = outdir.make_staging(target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create output directory: {exc.strerror}") from None
    try:
        for folder in sorted({p.rpartition("/")[0] for p in paths}):
            os.makedirs(staging / folder, exist_ok=True)
        results = _write_files(items, paths, str(staging), previous, check, cache, addresses)
        problems = [r for r in results if type(r) is str]
        if problems:
            raise OutputRejected(problems)
        (staging / MARKER).write_text(MARKER_TEXT)
        if gate is not None:
            gate()
        if cache is not None:
            # Files at least as new as the marker may yet change within their timestamp tick
            # unseen: the cache's index does not vouch for them (see buildcache).
            marker = os.stat(staging / MARKER)
            marker_ns = marker.st_mtime_ns
            records = [r for r in results if not isinstance(r, str)]
            folders = _staged_digests(str(staging), paths, records, marker)
            cache.record_tree(str(target), marker_ns, paths, records, folders)
        outdir.swap_in(staging, target, background=len(items) >= outdir.BACKGROUND_REMOVAL_FILES)
        return len(items)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"{target}: cannot write output: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _staged_digests(
    staging: str, paths: Sequence[str], records: Sequence[FileRecord], marker: os.stat_result
) -> dict[str, str] | None:
    """The `outdir.digest` of every folder of a staged tree, as `outdir.digests` gives by listing
    each (0.19 s, one `lstat` per file, at 10,000 services), worked out instead from the status the
    writers recorded of each file they created or linked (a private staging tree holds nothing
    else) and from the `marker`'s. Every file was created under one umask or linked only with the
    permissions that gives (`outdir.created_mode`). The tree itself and one folder are listed to
    confirm it; on any difference, every folder is listed."""
    entries: dict[str, list[bytes]] = {"": [], **{f: [] for f in outdir.folders(paths)}}
    for folder in entries:
        if folder:
            parent, _, name = folder.rpartition("/")
            entries[parent].append(os.fsencode(name) + b"\0d")
    if len(records) != len(paths):
        return outdir.digests(staging, entries)
    mode = stat.S_IFREG | outdir.created_mode(Path(staging))
    pack = outdir.ENTRY.pack
    for i, dev, ino, size, mtime_ns, _, _ in records:
        folder, _, name = paths[i].rpartition("/")
        entries[folder].append(os.fsencode(name) + b"\0f" + pack(mode, dev, ino, size, mtime_ns))
    entries[""].append(
        os.fsencode(MARKER)
        + b"\0f"
        + pack(marker.st_mode, marker.st_dev, marker.st_ino, marker.st_size, marker.st_mtime_ns)
    )
    found = {folder: outdir.digest(sorted(listed)) for folder, listed in entries.items()}
    for folder in ("", min(entries.keys() - {""}, default="")):
        listing = outdir.folder_entries(f"{staging}/{folder}" if folder else staging, outdir.NEVER_RACY)
        if listing is None or outdir.digest(listing[0]) != found[folder]:
            return outdir.digests(staging, entries)
    return found


def _timestamp(target: Path) -> int:
    """The filesystem's clock now, from a file in a fresh staging directory beside `target`."""
    staging = outdir.make_staging(target)
    try:
        return outdir.timestamp(staging)
    finally:
        os.rmdir(staging)


MARKER_TEXT = "Generated by meshc; this directory is replaced on every compile.\n"


def _address_and_scan(
    items: list[Manifest], target: Path, cache: BuildCache
) -> tuple[list[str | None], outdir.Scan]:
    """Every body's address, and the entries of every folder of the previous tree (the cache's
    index of it). For a big tree the addresses are computed in a forked process meanwhile: the
    scan mostly waits for the kernel, the addressing is Python and hashing, a few tenths of a
    second each at 10,000 services."""

    def address_all() -> list[str | None]:
        return _addresses(items)

    def scan() -> outdir.Scan:
        return outdir.scan(str(target), cache.tree_folders, cache.tree_marker_ns)

    if workers.processes_for(len(items), PARALLEL_FILES) < 2:
        return address_all(), scan()
    try:
        child = workers.Forked(address_all)
    except OSError:  # no fork now (memory, process limits): the same work here
        return address_all(), scan()
    try:
        scanned = scan()
    finally:
        try:
            addresses = child.join()
        except workers.WorkerFailed:
            addresses = address_all()  # whatever went wrong there, the same work here
    return addresses, scanned


def _addresses(items: list[Manifest]) -> list[str | None]:
    from .buildcache import addresses_of  # here: only a recompile with the build cache needs it

    return addresses_of(items)


def _write_part(
    items: list[Manifest],
    paths: list[str],
    addresses: list[str | None],
    scanned: outdir.Scan,
    target: Path,
    check: Check | None,
    cache: BuildCache,
    gate: Callable[[], None] | None = None,
) -> bool:
    """Replace only the deepest folder of the previous tree that holds every change (see
    `meshc.compiler.outdir`, "Replacing one folder"), or nothing when nothing changed; False, with
    nothing written, when that does not apply and the whole tree is to be written.

    It applies only when the result is exactly what writing the whole tree would give: every
    folder outside that one lists exactly as the cache's index of the previous tree recorded it
    (`scanned`, compared by `outdir.digest`: the same names, each file the same regular file with
    the same device, inode, size and mtime, compared by content when racily clean, and nothing
    else: a file or symlink someone added would be dropped by writing the whole tree), and the
    cache holds the text of every file there (so it passed the self-check)."""
    tree, recorded = cache.tree, cache.tree_folders
    wanted = set(paths)
    if len(wanted) != len(paths) or not recorded or not cache.tree_texts_kept:
        return False  # two objects with one name (the whole write reports it); an unvouched tree
    # At C speed (a recompile's 80,000 paths): a path whose address is not the old tree's, or none.
    if len(paths) != len(addresses):
        raise ValueError("_write_part: paths and addresses differ in length")
    from .buildcache import ADDRESS_OF_ENTRY  # imported already: `cache` is one

    recorded_addresses = dict(zip(tree, map(ADDRESS_OF_ENTRY, tree.values()), strict=True))
    changed = list(itertools.compress(paths, map(operator.ne, map(recorded_addresses.get, paths), addresses)))
    if None in addresses:  # no address (not JSON): written anew, whatever the old tree held
        listed = set(changed)
        changed += [p for p, a in zip(paths, addresses, strict=True) if a is None and p not in listed]
    if len(tree) + sum(1 for p in changed if p not in tree) > len(paths):  # files that go away
        changed += [p for p in tree if p not in wanted]
    old_folders = recorded.keys() - {""}
    part = outdir.part_to_replace(changed, old_folders, outdir.folders(paths)) if changed else None
    if part == "":
        return False
    inside = f"{part}/" if part else None
    existed = part is not None and part in old_folders
    if existed and libc.renameat2() is None:
        return False
    # Every folder outside `part` holds exactly the new tree's files there: outside `part`, the
    # new tree's paths and addresses are the old tree's (every difference is inside).
    outside = [f for f in recorded if inside is None or (f != part and not f.startswith(inside))]
    compared = False
    for folder in outside:
        listing = scanned.get(folder)
        if listing is None or outdir.digest(listing[0]) != recorded[folder]:
            return False
        for name in listing[1]:  # racily clean: compared by content
            path = f"{folder}/{name}" if folder else name
            if path == MARKER:
                text: bytes | None = MARKER_TEXT.encode()
            else:
                entry = tree.get(path)
                text = cache.text(entry[4]) if entry is not None else None
            if text is None or not outdir.holds(f"{target}/{path}", text, _recorded(listing[0], name)):
                return False
            compared = True
    # Every file of the tree was created under the umask its marker was (a whole write creates them
    # all; one folder is replaced only under that umask): under another, a fresh write would give
    # the files other permissions, so the whole tree is written (and linking refuses the old ones).
    top = scanned.get("")
    marker = _status(top[0], MARKER) if top is not None else None
    if marker is None or marker[0] & outdir.FILE_MODE != outdir.umask_mode():
        return False
    if part is None:  # nothing changed: DIR is the new tree already
        if compared:  # racily clean files, now compared: recorded as older than a new timestamp
            cache.record_part(str(target), _timestamp(target), tree, addresses, {}, recorded)
        return True  # else the cache's index describes DIR as it is
    assert inside is not None
    staging = outdir.make_staging(target)
    try:
        ours = list(
            itertools.compress(range(len(paths)), map(str.startswith, paths, itertools.repeat(inside)))
        )
        mine = [paths[i] for i in ours]
        below = {p[len(inside) :].rpartition("/")[0] for p in mine} - {""}
        for folder in sorted(below):
            os.makedirs(staging / folder, exist_ok=True)
        results = _write_files(
            [items[i] for i in ours],
            mine,
            str(staging),
            str(target),
            check,
            cache,
            [addresses[i] for i in ours],
            strip=len(inside),
        )
        problems = [r for r in results if type(r) is str]
        if problems:
            raise OutputRejected(problems)
        stamp = outdir.timestamp(staging)
        # The index of the new tree: the old one outside `part`, what was staged inside.
        retiring = list(itertools.compress(tree, map(str.startswith, tree, itertools.repeat(inside))))
        kept = dict(tree)
        for p in retiring:
            del kept[p]
        texts: dict[str, bytes | None] = {}
        for record in results:
            assert not isinstance(record, str)
            i, dev, ino, size, mtime_ns, a, data = record
            if a is not None:
                kept[mine[i]] = (dev, ino, size, mtime_ns, a)
                texts[a] = data
        folders = {f: recorded[f] for f in outside}
        inner = outdir.digests(str(staging), {"", *below, *outdir.folders(below)}) if ours else {}
        parent, _, name = part.rpartition("/")
        listing = scanned[parent]
        assert listing is not None  # outside `part`: compared above
        if inner is None:
            kept, folders = {}, {}  # the staged folders could not be listed: vouch for nothing
        else:
            folders.update({f"{part}/{f}" if f else part: d for f, d in inner.items()})
            # The parent gains or loses `part`'s entry (a folder: its name and kind only).
            mark = os.fsencode(name) + b"\0d"
            entries = [e for e in listing[0] if e != mark] + ([mark] if ours else [])
            folders[parent] = outdir.digest(sorted(entries))
        cache.record_part(str(target), stamp, kept, addresses, texts, folders)
        retired = len(retiring)
        if gate is not None:
            gate()
        if outdir.swap_part(
            staging,
            target,
            part,
            existed=existed,
            wanted=bool(ours),
            background=retired >= outdir.BACKGROUND_REMOVAL_FILES,
        ):
            return True
        cache.written = None
    except BaseException:
        cache.written = None
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return False


def _recorded(entries: list[bytes], name: str) -> tuple[int, int, int, int]:
    """(device, inode, size, mtime) of the regular file `name` in a folder's `folder_entries`."""
    found = _status(entries, name)
    assert found is not None  # a racily clean file: a regular file of that listing
    return found[1:]


def _status(entries: list[bytes], name: str) -> tuple[int, int, int, int, int] | None:
    """(mode, device, inode, size, mtime) of the regular file `name` in a folder's
    `folder_entries`; None if there is no such file."""
    prefix = os.fsencode(name) + b"\0f"
    for entry in entries:
        if entry.startswith(prefix) and len(entry) == len(prefix) + outdir.ENTRY.size:
            mode, dev, ino, size, mtime_ns = outdir.ENTRY.unpack(entry[len(prefix) :])
            return mode, dev, ino, size, mtime_ns
    return None


PARALLEL_FILES = 4_000
"""From this many files on, rendering and writing are split between processes, one per CPU:
rendering is pure Python and creating a file costs a few system calls, so one process would leave
the other CPUs idle."""


FileRecord = tuple[int, int, int, int, int, str | None, bytes | None]
"""(index, st_dev, st_ino, st_size, st_mtime_ns, the body's address, its text if the cache did not
know it) of a file written or linked into the staging tree, for the build cache."""


def _write_files(
    items: Sequence[Manifest],
    paths: Sequence[str],
    root: str,
    previous: str | None,
    check: Check | None,
    cache: BuildCache | None = None,
    addresses: Sequence[str | None] | None = None,
    *,
    strip: int = 0,
) -> list[str | FileRecord]:
    """Check, render and write every file; the problems `check` found (then nothing of that share
    is written), and with a `cache` a FileRecord of each file. A file whose bytes are those of the
    same path in the `previous` tree is not written but hard-linked from it (same inode, no
    rewrite: see `outdir.reuse`; with the cache's index of that tree, without reading it: see
    `outdir.link_recorded`). Forked writers take contiguous shares (whole folders, mostly: no two
    processes contend for a directory); a failure in one is an OSError here. `addresses`: the
    bodies' addresses, if already known; `strip`: how many characters of each path (relative to the
    `previous` tree) to leave out under `root` (the folder prefix when `root` is one folder)."""

    mode = outdir.created_mode(Path(root))  # a file of `previous` with others is written anew

    def write_share(share: Sequence[Manifest], offset: int) -> list[str]:
        problems = check(share) if check is not None else []
        if problems:
            return problems
        for i, manifest in enumerate(share, offset):
            if not i & 255 and workers.orphaned():
                os._exit(1)  # the compile was killed: stop writing (Linux kills us first anyway)
            data = dump(manifest.body).encode()
            path = paths[i]
            if previous is None or not outdir.reuse(f"{previous}/{path}", f"{root}/{path}", data, mode):
                # os.open/os.write: a third of the cost of open() for 100,000 small files.
                _write_file(f"{root}/{path}", data)
        return []

    def write_share_cached(share: Sequence[Manifest], offset: int) -> list[str | FileRecord]:
        from .buildcache import addresses_of  # here: only a compile with the build cache needs it

        assert cache is not None
        spans = cache.spans
        known_addresses = addresses
        share_addresses = (
            addresses_of(share) if known_addresses is None else known_addresses[offset : offset + len(share)]
        )
        if check is not None:
            problems = check(
                [m for m, a in zip(share, share_addresses, strict=True) if a is None or a not in spans]
            )
            if problems:
                return list(problems)
        records: list[str | FileRecord] = []
        tree = cache.tree if previous is not None and cache.tree_target == previous else {}
        racy = cache.tree_marker_ns
        for i, manifest in enumerate(share, offset):
            if not i & 255 and workers.orphaned():
                os._exit(1)
            path = paths[i]
            staged = f"{root}/{path[strip:]}"
            a = share_addresses[i - offset]
            known = cache.text(a)
            entry = tree.get(path) if known is not None else None
            if entry is not None and entry[4] == a and entry[3] < racy:
                recorded = entry[:4]
                if outdir.link_recorded(f"{previous}/{path}", staged, recorded, mode):
                    records.append((i, *recorded, a, None))
                    continue
            data = dump(manifest.body).encode() if known is None else known
            info = outdir.reused(f"{previous}/{path}", staged, data, mode) if previous is not None else None
            if info is None:
                info = _write_file(staged, data, status=True)
            assert info is not None
            records.append(
                (
                    i,
                    info.st_dev,
                    info.st_ino,
                    info.st_size,
                    info.st_mtime_ns,
                    a,
                    data if known is None else None,
                )
            )
        return records

    write: Callable[[Sequence[Manifest], int], Sequence[str | FileRecord]] = (
        write_share if cache is None else write_share_cached
    )
    try:
        return workers.map_shares(write, items, workers.processes_for(len(items), PARALLEL_FILES))  # type: ignore[arg-type]
    except workers.WorkerFailed as exc:
        if exc.oserror is not None:
            raise OSError(errno.EIO, exc.oserror) from None
        raise RuntimeError(f"a writer process failed:\n{exc.message}") from None  # a bug, not the disk


def _write_file(path: str, data: bytes, *, status: bool = False) -> os.stat_result | None:
    """Create `path` holding `data`; with `status`, its status once written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, outdir.FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return os.fstat(fd) if status else None
    finally:
        os.close(fd)


def _replaceable(target: Path) -> bool:
    if target.is_symlink() or not target.is_dir():
        return False
    return (target / MARKER).is_file() or not any(target.iterdir())
