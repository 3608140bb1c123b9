"""The offline design provider's revisions: apply what a customer's change request says it understands.

Pure (no database, no network). A request is cut into sentences; each sentence is either applied
(a brand colour, a page renamed, a phrase replaced) or said back to the customer as not applied,
never silently dropped. The colour goes through the same palette builder as the first design, so
the revised site still meets WCAG AA contrast.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from typing import Any

from agents.design import generate_design
from orders.brief import Brief, ascii_fold

# Straight quotes, French guillemets, curly double and single quotes (U+2018, U+2019).
QUOTE_OPEN = "\"'«“\u2018"
QUOTE_CLOSE = "\"'»”\u2019"
_Q = "[\"'«“\u2018]\\s*(.+?)\\s*[\"'»”\u2019]"
RENAME = re.compile(
    r"(?:renomm\w*|rename\w*|titre|title|intitul\w*)\b.*?" + _Q + r"\s*(?:en|to|as|par|with|by|:|->|→)\s*" + _Q,
    re.IGNORECASE,
)
REPLACE = re.compile(
    r"(?:rempla\w*|replac\w*|chang\w*|modifi\w*|remove\w*)\b.*?" + _Q + r"\s*(?:par|with|by|to|en|->|→)\s*" + _Q,
    re.IGNORECASE,
)
HEX = re.compile(r"#[0-9a-fA-F]{6}\b")
COLOUR_WORDS = re.compile(r"\b(couleur|colou?r|teinte|ton|shade)\b", re.IGNORECASE)
# Names a customer writes, folded to ASCII, and the colour each stands for.
COLOUR_NAMES: dict[str, str] = {
    "rouge": "#c0392b",
    "red": "#c0392b",
    "vert": "#2e7d32",
    "verte": "#2e7d32",
    "green": "#2e7d32",
    "bleu": "#1d4ed8",
    "bleue": "#1d4ed8",
    "blue": "#1d4ed8",
    "jaune": "#d4a017",
    "yellow": "#d4a017",
    "orange": "#e67e22",
    "violet": "#7b3fa0",
    "purple": "#7b3fa0",
    "rose": "#d63384",
    "pink": "#d63384",
    "noir": "#111827",
    "black": "#111827",
    "gris": "#4b5563",
    "grey": "#4b5563",
    "gray": "#4b5563",
    "marron": "#795548",
    "brown": "#795548",
    "bordeaux": "#7b1e3a",
    "burgundy": "#7b1e3a",
    "turquoise": "#0f9d9a",
    "teal": "#0f9d9a",
}
COLOUR_NAME = re.compile(r"\b(" + "|".join(sorted(COLOUR_NAMES, key=len, reverse=True)) + r")\b")

WORDS = {
    "fr": {
        "colour": "Couleur principale : {value}",
        "rename": "Page « {old} » renommée « {new} »",
        "replace": "« {old} » remplacé par « {new} » ({count} fois)",
        "no_page": "« {sentence} » : aucune page ne s'appelle « {old} »",
        "no_phrase": "« {sentence} » : la phrase « {old} » n'apparaît pas sur le site",
        "unknown": "« {sentence} » : nous n'avons pas su l'appliquer automatiquement",
    },
    "en": {
        "colour": "Main colour: {value}",
        "rename": "Page “{old}” renamed “{new}”",
        "replace": "“{old}” replaced with “{new}” ({count} times)",
        "no_page": "“{sentence}”: no page is called “{old}”",
        "no_phrase": "“{sentence}”: the phrase “{old}” does not appear on the site",
        "unknown": "“{sentence}”: we could not apply this automatically",
    },
}
MAX_TEXT = {"title": 120, "nav_label": 60}


@dataclass
class RevisionResult:
    design: dict[str, Any]
    pages: list[dict[str, Any]]
    brand_color: str
    renamed: dict[str, str] = field(default_factory=dict)  # old page title -> new
    applied: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "pages": self.pages,
            "brand_color": self.brand_color,
            "renamed": self.renamed,
            "applied": self.applied,
            "not_applied": self.not_applied,
        }


def sentences(feedback: str) -> list[str]:
    """Cut on line breaks and sentence ends, never inside quotes ('remplacer "A. B" par "C"' is one)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in feedback.replace("\r", "\n"):
        if ch in QUOTE_OPEN and ch not in QUOTE_CLOSE:
            depth += 1
        elif ch in QUOTE_CLOSE and ch not in QUOTE_OPEN:
            depth = max(0, depth - 1)
        elif ch in "\"'":  # the same mark opens and closes
            depth = 0 if depth else 1
        if ch == "\n" or (ch in ".!?;" and depth == 0):
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [" ".join(p.split()) for p in parts if len(re.findall(r"\w", p)) >= 3]


def apply_feedback(*, feedback: str, brief: Brief, design_output: dict[str, Any]) -> RevisionResult:
    """The revised design and copy, with what was applied and what was not, in the brief's language."""
    words = WORDS.get(brief.language, WORDS["en"])
    result = RevisionResult(
        design=copy.deepcopy(design_output["design"]),
        pages=copy.deepcopy(design_output["pages"]),
        brand_color=brief.brand_color,
    )
    for sentence in sentences(feedback):
        done = False
        colour = _colour_of(sentence)
        if colour is not None:
            result.brand_color = colour[0]
            result.design = generate_design(replace(brief, brand_color=colour[0]))
            result.applied.append(words["colour"].format(value=colour[1]))
            done = True
        rename = RENAME.search(sentence)
        if rename and not done:
            done = _rename(result, rename.group(1), rename.group(2), sentence, words)
        if not done:
            phrase = REPLACE.search(sentence)
            if phrase:
                done = _replace_phrase(result, phrase.group(1), phrase.group(2), sentence, words)
            else:
                result.not_applied.append(words["unknown"].format(sentence=sentence))
    return result


def _colour_of(sentence: str) -> tuple[str, str] | None:
    """(#rrggbb, how to say it) when the sentence asks for a colour."""
    hex_match = HEX.search(sentence)
    if hex_match:
        return hex_match.group(0).lower(), hex_match.group(0).lower()
    if not COLOUR_WORDS.search(sentence):
        return None
    name = COLOUR_NAME.search(ascii_fold(sentence))
    if name is None:
        return None
    return COLOUR_NAMES[name.group(1)], f"{COLOUR_NAMES[name.group(1)]} ({name.group(1)})"


def _rename(result: RevisionResult, old: str, new: str, sentence: str, words: dict[str, str]) -> bool:
    """Rename the page whose menu label is `old` (its address stays, so links keep working)."""
    wanted = ascii_fold(old).strip()
    for page in result.pages:
        if ascii_fold(page["nav_label"]).strip() == wanted:
            page["nav_label"] = new[: MAX_TEXT["nav_label"]]
            page["title"] = new[: MAX_TEXT["title"]]
            result.renamed[old] = new
            result.applied.append(words["rename"].format(old=old, new=new))
            return True
    # Not a page title: perhaps a phrase on a page, which the replace rule handles.
    if _count(result.pages, old):
        return _replace_phrase(result, old, new, sentence, words)
    result.not_applied.append(words["no_page"].format(sentence=sentence, old=old))
    return True


def _replace_phrase(result: RevisionResult, old: str, new: str, sentence: str, words: dict[str, str]) -> bool:
    count = _count(result.pages, old)
    if not count:
        result.not_applied.append(words["no_phrase"].format(sentence=sentence, old=old))
        return True
    result.pages = [_walk(page, lambda text: text.replace(old, new)) for page in result.pages]
    result.applied.append(words["replace"].format(old=old, new=new, count=count))
    return True


def _count(pages: list[dict[str, Any]], phrase: str) -> int:
    found = 0

    def tally(text: str) -> str:
        nonlocal found
        found += text.count(phrase)
        return text

    for page in pages:
        _walk(page, tally)
    return found


def _walk(value: Any, fn: Any) -> Any:
    """Apply `fn` to every text of a page's copy (not its slug: addresses do not change)."""
    if isinstance(value, dict):
        return {k: (v if k == "slug" else _walk(v, fn)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    if isinstance(value, str):
        return fn(value)
    return value
