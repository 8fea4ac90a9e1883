"""Build a database of "not relevant" clicks from real posts, to measure `brandmon train --relevance` on.

    python -m monitor.demo.relevance_set --out /tmp/relevance --brand AmazonHelp=amazon ...
    brandmon train --relevance -c /tmp/relevance/brandmon.yaml

Relevant: customers' tweets a brand's support account answered in ../shared/data/conversations/twcs-sample.csv.
Not relevant: TweetEval tweets (../shared/data/sentiment/tweeteval-test.jsonl) that name none of the brands, as the
off-topic posts a loose query catches. Every @handle becomes "@user" in both (as TweetEval has them), so the filter
cannot learn the support account's handle. The posts are stored, classified (lexicon), routed into the queue as the
pipeline does, and each queued item is then resolved or marked not relevant by "responder", through the queue's own
actions, so the audit log holds the clicks `brandmon train --relevance` reads.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from core.domain import Batch, Mention
from core.settings import load_settings
from core.storage import Database
from core.storage.schema import MentionRow, QueueItemRow
from models import load_classifier
from monitor.pipeline.classify import classify_pending
from monitor.pipeline.ingest import store_batch
from monitor.pipeline.route import route_pending
from monitor.queue.items import set_status
from sources.base import Source

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
_HANDLE = re.compile(r"@\w+")


class _Stored(Source):
    """Names the rows are stored under; the posts come from files, not a network."""

    network = "x"

    def poll(self, cursor: str | None) -> Batch:
        raise NotImplementedError("relevance_set stores batches directly")


def answered_posts(twcs: Path, handle: str) -> list[dict[str, str]]:
    """Return the customers' tweets that `handle` answered, oldest first."""
    with twcs.open(encoding="utf-8", newline="") as handle_file:
        rows = list(csv.DictReader(handle_file))
    by_id = {row["tweet_id"]: row for row in rows}
    answered = {row["in_response_to_tweet_id"] for row in rows
                if row["inbound"] == "False" and row["author_id"] == handle and row["in_response_to_tweet_id"]}
    return [by_id[i] for i in sorted(answered, key=int) if i in by_id and by_id[i]["inbound"] == "True"]


def off_topic(path: Path, words: Sequence[str], count: int, *, skip: int = 0) -> list[str]:
    """Return `count` tweets (after the first `skip` that qualify) that contain none of `words`."""
    found: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            text = str(json.loads(line)["text"]).strip()
            if text and not any(word in text.lower() for word in words):
                found.append(text)
            if len(found) >= skip + count:
                break
    return found[skip:]


def build(out: Path, brands: Sequence[tuple[str, str]], *, twcs: Path, tweets: Path,
          ratio: float) -> dict[str, dict[str, int]]:
    """Write `out`/brandmon.yaml and its database with the clicks; return per brand the clicks stored."""
    out.mkdir(parents=True, exist_ok=True)
    config = out / "brandmon.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{out / 'brandmon.db'}",
        "brands": [{"name": handle, "query": word, "handles": {"x": handle}} for handle, word in brands],
        "classifier": {"kind": "transformer", "data_dir": str(out / "data")},
        "slack": {"enabled": False},
    }, sort_keys=False), encoding="utf-8")
    settings = load_settings(config)
    db = Database(settings.database_url)
    db.migrate()
    now = datetime.now(UTC)
    words = [w.lower() for pair in brands for w in pair]
    relevant: dict[str, set[str]] = {}
    skip = 0
    for handle, _ in brands:
        posts = answered_posts(twcs, handle)
        noise = off_topic(tweets, words, round(len(posts) * ratio), skip=skip)
        skip += len(noise)
        mentions = []
        texts = [(f"{handle}-c{row['tweet_id']}", _HANDLE.sub("@user", row["text"])) for row in posts]
        texts += [(f"{handle}-n{i}", text) for i, text in enumerate(noise)]
        for i, (external_id, text) in enumerate(texts):
            # one author per post, so each opens its own case and item; seconds apart, all live (no history)
            mentions.append(Mention(network="x", external_id=external_id, author_handle=f"u{i}", author_name="",
                                    text=text, created_at=now - timedelta(seconds=len(texts) - i), url="",
                                    language="en"))
        relevant[handle] = {external_id for external_id, _ in texts[: len(posts)]}
        store_batch(db, _Stored(name=f"x-{handle}", brand=handle, options={}), Batch(tuple(mentions), None), now=now)
    classify_pending(db, load_classifier("lexicon"), settings.sla, now=now)
    route_pending(db, settings, now=now)
    with db.session() as session:
        items = session.execute(select(QueueItemRow.id, QueueItemRow.brand, MentionRow.external_id)
                                .join(MentionRow, MentionRow.id == QueueItemRow.mention_id)).all()
    stored: dict[str, dict[str, int]] = {handle: {"relevant": 0, "not_relevant": 0} for handle, _ in brands}
    for item_id, brand, external_id in items:
        side = "relevant" if external_id in relevant[brand] else "not_relevant"
        set_status(db, item_id, "resolved" if side == "relevant" else "not_relevant", "responder", now=now)
        stored[brand][side] += 1
    db.dispose()
    return stored


def main(argv: Sequence[str] | None = None) -> None:
    """Build the click database and print what it holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for brandmon.yaml and its database.")
    parser.add_argument("--brand", action="append", required=True, metavar="HANDLE=WORD",
                        help="A support account in twcs-sample.csv and the word its query would match (repeatable).")
    parser.add_argument("--twcs", type=Path, default=DATA / "conversations" / "twcs-sample.csv")
    parser.add_argument("--tweets", type=Path, default=DATA / "sentiment" / "tweeteval-test.jsonl")
    parser.add_argument("--ratio", type=float, default=1.0, help="Off-topic posts per answered post.")
    args = parser.parse_args(argv)
    brands = [(handle, word or handle.lower()) for handle, _, word in (v.partition("=") for v in args.brand)]
    stored = build(args.out, brands, twcs=args.twcs, tweets=args.tweets, ratio=args.ratio)
    for brand, counts in stored.items():
        print(f"{brand}: {counts['relevant']} answered posts queued and resolved, {counts['not_relevant']} off-topic "
              "posts queued and marked not relevant")
    print(f"now run: brandmon train --relevance -c {args.out / 'brandmon.yaml'}")


if __name__ == "__main__":
    main()
