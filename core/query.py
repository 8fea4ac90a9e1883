"""Brand queries: one boolean parser, rendered to X's and Reddit's search syntax and to a local matcher.

Grammar (X's rules of precedence: a space or AND binds tighter than OR)::

    query   := or_expr
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*
    unary   := ("NOT" | "-") unary | "(" or_expr ")" | "phrase" | word | @handle | #tag | lang:xx

The operators AND, OR and NOT are upper case; "or" in lower case is an ordinary word, as on X. A network that
cannot express a term (Reddit has no `lang:`) gets a query that is wider than the original, never narrower, and
the local matcher applied to every stored post then filters the rest the same way on every network.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Union

#: X's limit on a search query for self-serve access.
X_QUERY_MAX_CHARS = 512
SUPPORTED_OPERATORS = ("lang",)
_KEYWORDS = {"AND", "OR", "NOT"}
_LANG_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_OPERATOR = re.compile(r"^([a-z_]+):(.*)$", re.IGNORECASE)


class QueryError(ValueError):
    """A query that cannot be parsed or rendered; the message names the column (1-based)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(f"{message} at column {column}" if column is not None else message)
        self.reason = message
        self.column = column


TermKind = Literal["word", "phrase", "handle", "hashtag", "lang"]


@dataclass(frozen=True, slots=True)
class Term:
    """One searchable term: a word, a quoted phrase, an @handle, a #hashtag or a lang: filter."""

    kind: TermKind
    value: str
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    """Negation of a sub-query."""

    child: Node


@dataclass(frozen=True, slots=True)
class And:
    """All of the children."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of the children."""

    children: tuple[Node, ...]


Node = Union[Term, Not, And, Or]  # noqa: UP007 - a runtime alias used by the dataclasses above


# -- tokenising ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Token:
    kind: Literal["(", ")", "-", "AND", "OR", "NOT", "term"]
    column: int
    term: Term | None = None


def _tokenise(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        column = i + 1
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, column))  # type: ignore[arg-type]
            i += 1
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError("unterminated quoted phrase", column)
            phrase = " ".join(text[i + 1 : end].split())
            if not phrase:
                raise QueryError("empty quoted phrase", column)
            tokens.append(_Token("term", column, Term("phrase", phrase, column)))
            i = end + 1
        elif char == "-":
            if i + 1 >= n or text[i + 1].isspace() or text[i + 1] == ")":
                raise QueryError("'-' must be followed by the term it excludes", column)
            tokens.append(_Token("-", column))
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()"':
                j += 1
            tokens.append(_word_token(text[i:j], column))
            i = j
    return tokens


def _word_token(word: str, column: int) -> _Token:
    if word in _KEYWORDS:
        return _Token(word, column)  # type: ignore[arg-type]
    operator = _OPERATOR.match(word)
    if operator and not word.lower().startswith(("http:", "https:")):
        name, value = operator.group(1).lower(), operator.group(2)
        if name != "lang":
            supported = ", ".join(f"{op}:" for op in SUPPORTED_OPERATORS)
            raise QueryError(f"unsupported operator '{operator.group(1)}:' (supported: {supported})", column)
        code = value.lower()
        if not _LANG_CODE.match(code):
            raise QueryError(f"lang: needs a language code such as en or pt-br, not {value!r}", column)
        return _Token("term", column, Term("lang", code, column))
    if word[0] == "@" and len(word) > 1:
        handle = word[1:]
        if not re.fullmatch(r"\w{1,50}", handle):
            raise QueryError(f"{word!r} is not a valid @handle", column)
        return _Token("term", column, Term("handle", handle, column))
    if word[0] in "#$" and len(word) > 1:
        return _Token("term", column, Term("hashtag", word, column))
    if not any(c.isalnum() for c in word):
        raise QueryError(f"{word!r} has no letters or digits to search for", column)
    return _Token("term", column, Term("word", word, column))


# -- parsing ---------------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenise(text)
        self.pos = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _end_column(self) -> int:
        return len(self.text.rstrip()) + 1

    def parse(self) -> Node:
        if not self.tokens:
            raise QueryError("the query is empty", 1)
        node = self._or()
        token = self._peek()
        if token is not None:  # only an unmatched ")" stops _or early
            raise QueryError("unbalanced parenthesis: ')' has no matching '('", token.column)
        return node

    def _or(self) -> Node:
        children = [self._and()]
        while (token := self._peek()) is not None and token.kind == "OR":
            self.pos += 1
            if self._peek() is None or self._peek().kind in (")", "OR", "AND"):  # type: ignore[union-attr]
                raise QueryError("OR needs a term on both sides", token.column)
            children.append(self._and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def _and(self) -> Node:
        children = [self._unary()]
        while (token := self._peek()) is not None and token.kind not in (")", "OR"):
            if token.kind == "AND":
                self.pos += 1
                following = self._peek()
                if following is None or following.kind in (")", "OR", "AND"):
                    raise QueryError("AND needs a term on both sides", token.column)
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def _unary(self) -> Node:
        token = self._peek()
        if token is None:
            raise QueryError("the query ends where a term was expected", self._end_column())
        self.pos += 1
        if token.kind in ("-", "NOT"):
            following = self._peek()
            if following is None or following.kind in (")", "OR", "AND"):
                raise QueryError(f"{token.kind} must be followed by the term it excludes", token.column)
            return Not(self._unary())
        if token.kind == "(":
            if (inner := self._peek()) is not None and inner.kind == ")":
                raise QueryError("empty parentheses", token.column)
            node = self._or()
            closing = self._peek()
            if closing is None or closing.kind != ")":
                raise QueryError("unbalanced parenthesis: '(' is never closed", token.column)
            self.pos += 1
            return node
        if token.kind == ")":
            raise QueryError("unbalanced parenthesis: ')' has no matching '('", token.column)
        if token.kind in ("AND", "OR"):
            raise QueryError(f"{token.kind} needs a term on both sides", token.column)
        assert token.term is not None
        return token.term


def _positive_terms(node: Node, negated: bool = False) -> list[Term]:
    if isinstance(node, Term):
        return [] if negated else [node]
    if isinstance(node, Not):
        return _positive_terms(node.child, not negated)
    return [t for child in node.children for t in _positive_terms(child, negated)]


# -- approximation for networks that cannot express every term -------------------------------------------
_Approx = Union[Node, bool]  # noqa: UP007


def _approximate(node: Node, supported: Callable[[Term], bool], positive: bool = True) -> _Approx:
    """Drop terms a network cannot express so the result matches a superset of the original."""
    if isinstance(node, Term):
        return node if supported(node) else positive
    if isinstance(node, Not):
        inner = _approximate(node.child, supported, not positive)
        return (not inner) if isinstance(inner, bool) else Not(inner)
    parts = [_approximate(child, supported, positive) for child in node.children]
    if isinstance(node, And):
        if any(p is False for p in parts):
            return False
        kept = [p for p in parts if not isinstance(p, bool)]
        return True if not kept else (kept[0] if len(kept) == 1 else And(tuple(kept)))
    if any(p is True for p in parts):
        return True
    kept = [p for p in parts if not isinstance(p, bool)]
    return False if not kept else (kept[0] if len(kept) == 1 else Or(tuple(kept)))


# -- rendering -------------------------------------------------------------------------------------------
def _render_x(node: Node, *, top: bool = True) -> str:
    if isinstance(node, Term):
        if node.kind == "phrase":
            return f'"{node.value}"'
        if node.kind == "handle":
            return f"@{node.value}"
        if node.kind == "lang":
            return f"lang:{node.value}"
        return node.value
    if isinstance(node, Not):
        return "-" + _render_x(node.child, top=False)
    if isinstance(node, And):
        body = " ".join(_render_x(c, top=False) for c in node.children)
    else:
        body = " OR ".join(_render_x(c, top=False) for c in node.children)
    return body if top else f"({body})"


def _render_reddit(node: Node, *, top: bool = True) -> str:
    if isinstance(node, Term):
        if node.kind == "phrase":
            return f'"{node.value}"'
        if node.kind == "hashtag":
            return node.value[1:]
        return node.value  # a handle becomes its bare name: Reddit users write u/name or just the name
    if isinstance(node, Not):
        return "NOT " + _render_reddit(node.child, top=False)
    joiner = " AND " if isinstance(node, And) else " OR "
    body = joiner.join(_render_reddit(c, top=False) for c in node.children)
    return body if top else f"({body})"


# -- local matching --------------------------------------------------------------------------------------
def fold(text: str) -> str:
    """Fold text for matching: compatibility forms, case and accents ignored (as X's tokenised match)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _term_pattern(term: Term) -> re.Pattern[str]:
    if term.kind == "handle":
        return re.compile(r"(?<![\w@])@" + re.escape(fold(term.value)) + r"(?!\w)")
    if term.kind == "hashtag":
        return re.compile(r"(?<![\w#$])" + re.escape(fold(term.value)) + r"(?!\w)")
    words = [w for w in re.split(r"\W+", fold(term.value)) if w] or [fold(term.value)]
    return re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)")




def _compile(node: Node) -> Callable[[str, str | None], bool]:
    if isinstance(node, Term):
        if node.kind == "lang":
            code = node.value

            def lang(_text: str, language: str | None) -> bool:
                if not language:
                    return False
                language = language.lower().replace("_", "-")
                return language == code or ("-" not in code and language.split("-")[0] == code)

            return lang
        pattern = _term_pattern(node)
        return lambda text, _language: pattern.search(text) is not None
    if isinstance(node, Not):
        inner = _compile(node.child)
        return lambda text, language: not inner(text, language)
    parts = [_compile(child) for child in node.children]
    if isinstance(node, And):
        return lambda text, language: all(p(text, language) for p in parts)
    return lambda text, language: any(p(text, language) for p in parts)


@dataclass(frozen=True)
class BrandQuery:
    """A parsed brand query: render it for each network or match it against a post."""

    source: str
    tree: Node

    def to_x(self, *, extra: str = "") -> str:
        """Return the query in X search syntax, with `extra` operators appended (e.g. "-is:retweet")."""
        text = _render_x(self.tree)
        if extra:
            text = f"({text}) {extra}" if isinstance(self.tree, Or) else f"{text} {extra}"
        return text

    def to_reddit(self) -> str:
        """Return the query in Reddit's search syntax; terms Reddit lacks are left to the local matcher."""
        approx = _approximate(self.tree, lambda term: term.kind != "lang")
        if approx is True:
            raise QueryError(f"query {self.source!r} would match every Reddit post: Reddit cannot search lang:")
        if approx is False:
            raise QueryError(f"query {self.source!r} cannot match anything on Reddit")
        return _render_reddit(approx)

    def matches(self, text: str, language: str | None = None) -> bool:
        """Return True when `text` (in `language`, if known) satisfies the query."""
        return _compiled(self.tree)(fold(text), language)

    def positive_terms(self) -> list[Term]:
        """Return the terms that are not negated (what the query searches for)."""
        return _positive_terms(self.tree)


@lru_cache(maxsize=256)
def _compiled(tree: Node) -> Callable[[str, str | None], bool]:
    return _compile(tree)


@lru_cache(maxsize=256)
def parse_query(text: str) -> BrandQuery:
    """Parse a boolean brand query; raise `QueryError` naming the column of the first problem."""
    tree = _Parser(text).parse()
    positives = _positive_terms(tree)
    if not positives:
        raise QueryError("the query only excludes; it needs at least one term to search for", 1)
    if all(term.kind == "lang" for term in positives):
        raise QueryError("lang: only filters; the query needs a word, phrase, @handle or #hashtag", positives[0].column)
    rendered = _render_x(tree)
    if len(rendered) > X_QUERY_MAX_CHARS:
        raise QueryError(f"the query is {len(rendered)} characters in X syntax; X allows {X_QUERY_MAX_CHARS}")
    return BrandQuery(text, tree)


def compile_matcher(query: str) -> Callable[[str, str | None], bool]:
    """Return predicate(text, language) that says whether a stored post matches the brand query."""
    parsed = parse_query(query)
    return parsed.matches


__all__ = ["X_QUERY_MAX_CHARS", "BrandQuery", "QueryError", "Term", "compile_matcher", "fold", "parse_query"]
