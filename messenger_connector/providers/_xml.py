"""A strict reader of the small flat XML documents some platforms post (WeChat's ``<xml>...</xml>``).

Why the standard library's expat and not lxml: expat is always there (no optional C library to configure),
and it reports each declaration to a handler before acting on it, so a DOCTYPE or an entity declaration is
refused the moment it starts: no DTD is read, no entity is ever defined or expanded (so no "billion laughs"
and no external entity), nothing is fetched from the network. A reference to an entity that was never
declared is an expat error. The size is checked before any parsing, and the tree is bounded in depth and
number of elements.
"""
from xml.parsers import expat

from .base import MalformedError

MAX_DEPTH = 8
MAX_ELEMENTS = 2000


class _Refused(Exception):
    """Raised from an expat handler to stop parsing at once."""


def _refuse(*_args):
    raise _Refused("declarations are not accepted")


class _TreeBuilder:
    """Each element becomes its text (a leaf) or a dict of its children (a repeated child: a list)."""

    def __init__(self):
        self.stack = []
        self.count = 0
        self.root = None

    def start(self, name, _attributes):
        self.count += 1
        if self.count > MAX_ELEMENTS or len(self.stack) >= MAX_DEPTH:
            raise _Refused("too many or too deeply nested elements")
        self.stack.append((name, {}, []))

    def end(self, _name):
        name, children, texts = self.stack.pop()
        value = children or "".join(texts)
        if not self.stack:
            self.root = (name, value)
            return
        siblings = self.stack[-1][1]
        if name in siblings:
            previous = siblings[name]
            siblings[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            siblings[name] = value

    def text(self, data):
        if self.stack:
            self.stack[-1][2].append(data)


def parse_document(data, limit, root="xml"):
    """The children of the root element of ``data`` (bytes, UTF-8) as a dict; MalformedError for anything
    else than a well-formed document of at most ``limit`` bytes without DTD or entities, rooted at ``root``."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedError("the body is not bytes")
    if len(data) > limit:
        raise MalformedError("the XML document is too large")
    # encoding forced to UTF-8: what the platform sends, and what the body is stored as
    parser = expat.ParserCreate("utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    for handler in ("StartDoctypeDeclHandler", "EntityDeclHandler", "UnparsedEntityDeclHandler",
                    "NotationDeclHandler", "ExternalEntityRefHandler", "ElementDeclHandler",
                    "AttlistDeclHandler"):
        setattr(parser, handler, _refuse)
    builder = _TreeBuilder()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    parser.buffer_text = True
    try:
        parser.Parse(bytes(data), True)
    except _Refused as refused:
        raise MalformedError(f"XML refused: {refused}") from None
    except (expat.ExpatError, ValueError, RecursionError):
        raise MalformedError("the body is not well-formed XML") from None
    if builder.root is None or builder.root[0] != root:
        raise MalformedError(f"the XML document's root is not <{root}>")
    value = builder.root[1]
    return value if isinstance(value, dict) else {}
