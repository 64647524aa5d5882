"""Source positions: map a path inside the spec (`spec.services[3].calls[0]`) to file, line and column.

Like istio's analyzers, every finding must point into the user's file. The YAML node tree that the
loader composes anyway is kept, and a path is resolved by walking it only when a diagnostic needs
a position, so a valid spec pays nothing for this. A spec split over several files is merged by
concatenating its lists; the map remembers which file each list item and section came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathItem = str | int
Path = tuple[PathItem, ...]


@dataclass(slots=True)
class SourceFile:
    name: str
    """The path as the user gave it (diagnostics repeat it verbatim)."""
    root: yaml.Node | None = None
    text: str | None = None
    """The file's text, kept so that `root` can be composed on demand."""
    locator: Callable[[Sequence[PathItem]], tuple[int, int]] | None = None
    """For sources that are not YAML (CUE): maps a data path to (line, column) its own way."""

    def _root(self) -> yaml.Node | None:
        if self.root is None and self.text is not None:
            # Composed only when a diagnostic needs a position: a valid spec never pays for it.
            loader = _Loader(self.text)
            try:
                self.root = loader.get_single_node()
            except yaml.YAMLError:
                self.text = None
            finally:
                loader.dispose()
        return self.root

    def locate(self, path: Sequence[PathItem]) -> tuple[int, int]:
        """1-based (line, column) of the deepest node on `path` that exists.

        A mapping entry resolves to its key (the line starts there); a sequence item to the item.
        """
        if self.locator is not None:
            return self.locator(path)
        node = self._root()
        if node is None:
            return (1, 1)
        mark = node.start_mark
        for item in path:
            if isinstance(node, yaml.MappingNode):
                found = None
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and _same_key(key.value, item):
                        found = (key, value)
                        break
                if found is None:
                    break
                mark = found[0].start_mark
                node = found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(item, int):
                if not 0 <= item < len(node.value):
                    break
                node = node.value[item]
                mark = node.start_mark
            else:
                break
        return (mark.line + 1, mark.column + 1)


def _same_key(text: str, item: PathItem) -> bool:
    return text == item if isinstance(item, str) else text == str(item)


@dataclass(slots=True)
class SourceMap:
    files: list[SourceFile]
    list_origins: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """For lists under `spec` merged from several files: (file index, item count) runs in order."""
    section_owner: dict[str, int] = field(default_factory=dict)
    """For other `spec` keys: the file that defined them."""

    @property
    def display_name(self) -> str:
        return self.files[0].name if self.files else "<input>"

    def position(self, path: Sequence[PathItem]) -> tuple[str, int, int]:
        index, local = self._resolve(tuple(path))
        source = self.files[index]
        line, column = source.locate(local)
        return (source.name, line, column)

    def _resolve(self, path: Path) -> tuple[int, Path]:
        if len(self.files) <= 1 or len(path) < 2 or path[0] != "spec" or not isinstance(path[1], str):
            return (0, path)
        section = path[1]
        runs = self.list_origins.get(section)
        if runs is not None and len(path) >= 3 and isinstance(path[2], int):
            offset = path[2]
            for file_index, count in runs:
                if offset < count:
                    return (file_index, ("spec", section, offset, *path[3:]))
                offset -= count
        if runs:
            return (runs[0][0], path)
        return (self.section_owner.get(section, 0), path)
