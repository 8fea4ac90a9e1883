"""The digest's volume and sentiment by stored classification language, in the page and the JSON."""

from __future__ import annotations

import json

from sqlalchemy import update

from core.storage import Database
from core.storage.schema import ClassificationRow
from monitor.digest.build import build_digest, dumps
from monitor.digest.render import render_html
from monitor.digest.weeks import parse_week
from tests.support.digest import BRAND, NOW, Rows, day

POSTS = [("en", "negative"), ("en", "positive"), ("en", "neutral"), ("en", "positive"),
         ("de", "negative"), ("de", "negative"), ("de", "positive"),
         ("\u202eevil<b>", "neutral"), (None, "neutral")]


def _store(db: Database) -> None:
    rows = Rows(db)
    for index, (language, label) in enumerate(POSTS):
        mention = rows.mention(day(1, 9, index), sentiment=label)
        with db.session() as session:
            session.execute(update(ClassificationRow).where(ClassificationRow.mention_id == mention)
                            .values(language=language))
    rows.mention(day(1, 20), sentiment=None)  # unclassified: counted under "unknown", in no share


def test_languages_sorted_by_volume_with_their_shares(sqlite_db: Database) -> None:
    _store(sqlite_db)
    digest = build_digest(sqlite_db, brand=BRAND, week=parse_week("2026-W47"), now=NOW, theme_embedder="tfidf")
    table = [(r.language, r.mentions, r.classified, r.negative, r.neutral, r.positive) for r in digest.languages]
    assert table[0] == ("en", 4, 4, 0.25, 0.25, 0.5)
    assert table[1] == ("de", 3, 3, 2 / 3, 0.0, 1 / 3)
    assert table[2] == ("unknown", 2, 1, 0.0, 1.0, 0.0)
    assert table[3] == ("\u202eevil<b>", 1, 1, 0.0, 1.0, 0.0)
    plain = json.loads(dumps(digest))["languages"]
    assert [row["language"] for row in plain] == ["en", "de", "unknown", "\u202eevil<b>"]
    page = render_html(digest)
    assert "By language" in page and "<td><bdi>de</bdi></td>" in page and "67%" in page
    assert "evil<b>" not in page and "\u202e" not in page and "evil&lt;b&gt;" in page
