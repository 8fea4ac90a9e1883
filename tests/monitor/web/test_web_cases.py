"""The item page shows the case: the whole conversation (customer and brand, from where), earlier cases, first name.

Every untrusted string on it, the brand's replies included, is escaped and bidi-isolated as the rest of the page.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.storage import Database
from tests.support.queue import Labels, post, seed
from tests.support.web import login, web_setup

BRAND = {"handle": "KestrelMobile", "name": "Kestrel", "raw": {"from_brand": True}}


def test_the_item_page_shows_the_conversation_earlier_cases_and_the_first_name(db: Database) -> None:
    setup = web_setup(db)
    ten_days = 60 * 24 * 10
    seed(setup.db, setup.settings, [
        post("50", "@KestrelMobile my bill is wrong", handle="jo_bloggs", minutes_ago=ten_days),
        post("201", "Sorry \u202eJo\u202c, which postcode? <b>now</b>", parent_id="200", minutes_ago=8,
             **BRAND),  # type: ignore[arg-type]
        post("202", "@KestrelMobile LS1 <i>4AP</i>", handle="jo_bloggs", parent_id="201", minutes_ago=6),
    ], {"202": Labels(sentiment="neutral", complaint=False)})
    client = TestClient(setup.app, base_url="http://testserver")
    login(client, "ana")
    page = client.get(f"/items/{setup.items['200']}").text
    conversation = page.split('id="conversation"', 1)[1].split("</ol>", 1)[0]
    assert conversation.index("no signal in Leeds") < conversation.index("which postcode") < conversation.index("LS1")
    assert "brand · in the network&#39;s app" in conversation
    assert "&lt;b&gt;now&lt;/b&gt;" in conversation and "&lt;i&gt;4AP&lt;/i&gt;" in conversation
    assert "\u202e" not in page and "&lt;U+202E&gt;" in conversation  # the override is shown, never applied
    assert 'id="first-name">(first name: <bdi class="untrusted">Jo</bdi>)' in page
    assert "replied" not in page.split('id="case-status">', 1)[1][:20]  # the customer wrote last: needs a response
    earlier = page.split('id="earlier-cases"', 1)[1].split("</ul>", 1)[0]
    assert "my bill is wrong" in earlier and "open, waiting for us" in earlier
    queue = client.get("/").text
    assert "case #" in queue and "2 posts, 1 brand reply" in queue


def test_a_malicious_display_name_gives_no_markup_as_first_name(db: Database) -> None:
    setup = web_setup(db)
    client = TestClient(setup.app, base_url="http://testserver")
    login(client, "ana")
    page = client.get(f"/items/{setup.items['100']}").text  # mallory: 'Mal "><img src=x onerror=alert(1)>'
    assert '(first name: <bdi class="untrusted">Mal</bdi>)' in page and "<img src=x" not in page
