"""Mermaid flowchart text: safe ids, escaped labels, and parallel edges merged into one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9]+")
_SHAPES = {
    "rect": ("[", "]"),
    "round": ("(", ")"),
    "stadium": ("([", "])"),
    "cylinder": ("[(", ")]"),
    "rhombus": ("{", "}"),
    "circle": ("((", "))"),
    "parallelogram": ("[/", "/]"),
    "hexagon": ("{{", "}}"),
}


def shown(text: str) -> str:
    """What a reader sees: pseudo parameters and account ids as placeholders, so no account reaches the docs."""
    for pseudo, placeholder in (("AWS_AccountId", "<account>"), ("AWS_Region", "<region>"), ("AWS_Partition", "aws")):
        text = text.replace(f"${{{pseudo}}}", placeholder)
    return _ACCOUNT.sub("<account>", text)


def label(*lines: str) -> str:
    """A quoted label, one line per argument, in the #entity; codes Mermaid's parser reads."""
    escaped = []
    for line in lines:
        text = shown(line)
        for char, entity in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
            text = text.replace(char, entity)
        escaped.append(text)
    return '"' + "<br/>".join(escaped) + '"'


def node_id(*parts: str) -> str:
    """Letters, digits and `_` only, prefixed so no id is a Mermaid keyword (`end`, `graph`, ...)."""
    return "n_" + "_".join(_UNSAFE_ID.sub("_", shown(part)).strip("_") for part in parts)


@dataclass
class Flowchart:
    direction: str
    lines: list[str] = field(default_factory=list)
    edges: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)

    def node(self, ident: str, lines: tuple[str, ...] | list[str], shape: str = "rect", indent: int = 1) -> None:
        opening, closing = _SHAPES[shape]
        self.lines.append("    " * indent + f"{ident}{opening}{label(*lines)}{closing}")

    def subgraph(self, ident: str, title: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + f"subgraph {ident}[{label(title)}]")

    def end(self, indent: int = 1) -> None:
        self.lines.append("    " * indent + "end")

    def edge(self, source: str, target: str, text: str = "", style: str = "-->") -> None:
        """Parallel edges of one style merge into one, their labels joined."""
        labels = self.edges.setdefault((source, target, style), set())
        if text:
            labels.add(text)

    def render(self) -> str:
        out = ["```mermaid", f"flowchart {self.direction}", *self.lines]
        for (source, target, style), labels in self.edges.items():
            text = f"|{label(', '.join(sorted(labels)))}|" if labels else ""
            out.append(f"    {source} {style}{text} {target}")
        out.append("```")
        return "\n".join(out)
