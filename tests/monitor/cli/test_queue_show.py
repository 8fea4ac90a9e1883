"""`brandmon queue show ITEM`: the case's conversation interleaved, by whom and from where, and earlier cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from core.storage import Database
from monitor.cli import main
from monitor.queue.context import mark_seen
from monitor.queue.items import claim
from monitor.queue.replies import queue_reply
from monitor.web.auth import add_user
from tests.support.languages import write_config
from tests.support.queue import NOW, Labels, post, seed
from tests.support.settings import make_settings

BRAND = {"handle": "KestrelMobile", "name": "Kestrel", "raw": {"from_brand": True}}
TEN_DAYS_MIN = 60 * 24 * 10


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "brandmon.yaml", f"sqlite:///{tmp_path / 'q.db'}")


@pytest.fixture
def db(config: Path) -> Database:
    database = Database(yaml.safe_load(config.read_text(encoding="utf-8"))["database_url"])
    database.migrate()
    add_user(database, "ana", "a long enough password", role="responder")
    return database


def show(config: Path, item_id: int) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["queue", "show", str(item_id), "-c", str(config), "--as", "ana"])
    return result.exit_code, result.output


def test_show_prints_the_conversation_interleaved_and_the_earlier_cases(config: Path, db: Database) -> None:
    settings = make_settings()
    seeded = seed(db, settings, [
        post("50", "@KestrelMobile my bill is wrong", minutes_ago=TEN_DAYS_MIN),
        post("51", "Sorry Jo, fixed it for you", parent_id="50", minutes_ago=TEN_DAYS_MIN - 12, **BRAND),  # type: ignore[arg-type]
        post("200", "@KestrelMobile no signal in Leeds \x1b[31msince 9\x1b[0m", minutes_ago=10, addressed=True),
        post("201", "Sorry \u202eJo\u202c, which postcode?", parent_id="200", minutes_ago=8, **BRAND),  # type: ignore[arg-type]
        post("202", "@KestrelMobile LS1 4AP\nstill nothing", parent_id="201", minutes_ago=6),
    ], {"202": Labels(sentiment="neutral", complaint=False)})
    item = seeded["200"][1] or seeded["202"][1]
    assert item is not None
    claim(db, item, "ana", now=NOW)
    mark_seen(db, item, seeded["202"][0], "ana", now=NOW)
    queue_reply(db, item, "ana", "Thanks Jo, an engineer is on the LS1 mast now.", now=NOW)
    code, out = show(config, item)
    assert code == 0, out
    assert "\x1b" not in out and "\u202e" not in out  # nothing from a post drives the terminal
    conversation = out.split("conversation (oldest first", 1)[1].split("earlier cases", 1)[0]
    lines = conversation.splitlines()
    headers = [line for line in lines if line.startswith(("   2", " > 2"))]
    assert [re.sub(r"^ [> ] \S+ \S+ ", "", h) for h in headers] == [
        "customer @jo_bloggs (negative):",
        "brand @KestrelMobile (in the network's app):",
        "customer @jo_bloggs (neutral):",
        "brand @ana (through brandmon, queued):",
    ]
    assert "    @KestrelMobile no signal in Leeds \ufffd[31msince 9\ufffd[0m" in lines
    assert "    Sorry <U+202E>Jo<U+202C>, which postcode?" in lines
    assert "    @KestrelMobile LS1 4AP" in lines and "    still nothing" in lines  # its lines are kept, indented
    assert "    Thanks Jo, an engineer is on the LS1 mast now." in lines
    assert "case #" in out and "needs a response" in out.split("conversation", 1)[0]
    earlier = out.split("earlier cases with @jo_bloggs:", 1)[1].splitlines()
    assert "case #" in earlier[1] and ": resolved: the customer went quiet after our reply; " in earlier[1]
    assert "1 post, 1 brand reply, first response after 12 min" in earlier[1]
    assert earlier[2] == "    @KestrelMobile my bill is wrong"
    assert "(first name: Jo)" in out and out.startswith(f"item {item}: ")
    assert "(spoke to Kestrel Mobile)" in out  # Jo @-mentioned the brand's account
    assert headers[0].startswith(" > ")  # the item's own post is marked


def test_show_without_earlier_cases_says_so_and_neutralises_the_name(config: Path, db: Database) -> None:
    seeded = seed(db, make_settings(), [
        post("300", "kestrel \u202edrawkcab\u202c billing", handle="bill", name="\x1b]0;pwned\x07Bill", minutes_ago=3),
    ])
    item = seeded["300"][1]
    assert item is not None
    code, out = show(config, item)
    assert code == 0 and "earlier cases with @bill: none" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert " > " in out.split("conversation", 1)[1]  # the item's own post is marked
    assert "  kestrel <U+202E>drawkcab<U+202C> billing" in out


def test_show_of_an_unknown_item_fails_clearly(config: Path, db: Database) -> None:
    code, out = show(config, 999)
    assert code == 2 and "no queue item 999" in out
