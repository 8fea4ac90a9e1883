"""An evaluation stream from a "Customer Support on Twitter" export, each company that answers there a brand.

    python -m monitor.evaluate.conversations EXPORT.csv OUT_DIR [-c BASE.yaml]
    brandmon evaluate --stream OUT_DIR/stream.jsonl -c OUT_DIR/brandmon.yaml

The export holds many companies' customers and answers. The company of a conversation is the account that answers
it; every customer post of the conversation becomes a post about that company (`addressed` where it answers the
company or @-mentions it), and the company's answers are kept as its own posts (`from_brand`), so cases, first
responses and Slack figures come out as a team working the real threads would see them. The posts carry no
labels: the replay measures what a team would get (Slack messages per post, levels, categories, queue items), not
precision. `BASE.yaml` (default: the example config) gives the classifier, routes and queue; its brands are
replaced by the companies, and every route is set to all of them.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.domain import Mention
from sources.replay import ReplaySource
from sources.x_posts import names_handle

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "brandmon.example.yaml"


@dataclass(frozen=True, slots=True)
class ConversationStream:
    """The records of the stream, the customer posts each company got, and the posts of the export left out."""

    records: list[dict[str, Any]]
    customers: Counter[str]
    #: Posts in conversations no company answered.
    unanswered: int
    #: Answers by a second company in another company's thread.
    other_company: int = 0
    #: Rows the replay source refused, with its reasons.
    rejected: tuple[str, ...] = ()


def _mentions(export: Path) -> tuple[list[Mention], list[str]]:
    source = ReplaySource(name="conversations", brand="export",
                          options={"path": str(export), "brand_posts": True, "batch_size": 5000})
    found: list[Mention] = []
    rejected: list[str] = []
    cursor: str | None = None
    try:
        while True:
            batch = source.poll(cursor)
            found.extend(batch.mentions)
            rejected.extend(f"{r.location}: {r.reason}" for r in batch.rejected)
            cursor = batch.cursor
            if batch.exhausted:
                return found, rejected
    finally:
        source.close()


def _roots(parents: dict[str, str | None]) -> dict[str, str]:
    """Return each post's thread root: its first ancestor in the export (an export lists replies before parents)."""
    roots: dict[str, str] = {}
    for post in parents:
        chain = [post]
        while (parent := parents.get(chain[-1])) and parent in parents and parent not in roots and parent not in chain:
            chain.append(parent)
        parent = parents.get(chain[-1])
        top = roots.get(parent, chain[-1]) if parent else chain[-1]
        roots.update(dict.fromkeys(chain, top))
    return roots


def conversation_stream(export: Path) -> ConversationStream:
    """Read `export` through the replay source and give each answered conversation's posts to its company."""
    found, rejected = _mentions(export)
    mentions = sorted(found, key=lambda m: m.created_at)
    brand_posts = {m.external_id for m in mentions if m.raw.get("from_brand")}
    roots = _roots({m.external_id: m.parent_id for m in mentions})
    company: dict[str, str] = {}
    for mention in mentions:
        if mention.external_id in brand_posts:
            company.setdefault(roots[mention.external_id], mention.author_handle)
    records: list[dict[str, Any]] = []
    customers: Counter[str] = Counter()
    unanswered = other_company = 0
    for mention in mentions:
        own = mention.external_id in brand_posts
        root = roots[mention.external_id]
        brand = company.get(root)
        if brand is None:
            unanswered += 1
            continue
        if own and mention.author_handle != brand:  # another company stepping into the thread
            other_company += 1
            continue
        record: dict[str, Any] = {
            "id": mention.external_id, "network": mention.network, "brand": brand,
            "text": mention.raw["text"],  # as exported: the replay decodes X's entities once, at ingest
            "created_at": mention.created_at.isoformat(), "author_handle": mention.author_handle,
            "conversation_id": root, "parent_id": mention.parent_id,
        }
        if own:
            record["from_brand"] = True
        else:
            record["addressed"] = mention.parent_id in brand_posts or names_handle(mention.raw["text"], brand)
            customers[brand] += 1
        records.append(record)
    return ConversationStream(records, customers, unanswered, other_company, tuple(rejected))


def stream_config(base: dict[str, Any], brands: Sequence[str]) -> dict[str, Any]:
    """Return `base` with `brands` as its own brands (queried by @handle) and every route set to all of them."""
    config = {**base, "brands": [{"name": b, "query": f"@{b}", "handles": {"x": b}} for b in brands],
              "sources": []}
    slack = dict(config.get("slack") or {})
    slack["routes"] = [{**route, "brands": list(brands)} for route in slack.get("routes") or []]
    config["slack"] = slack
    return config


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m monitor.evaluate.conversations`."""
    parser = argparse.ArgumentParser(prog="python -m monitor.evaluate.conversations",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("export", type=Path,
                        help="a Customer Support on Twitter CSV (tweet_id, author_id, inbound, ...)")
    parser.add_argument("out", type=Path, help="folder for stream.jsonl and brandmon.yaml")
    parser.add_argument("-c", "--config", type=Path, default=EXAMPLE_CONFIG,
                        help="config whose classifier, routes and queue the replay uses (default: the example)")
    args = parser.parse_args(argv)
    stream = conversation_stream(args.export)
    if not stream.records:
        parser.error(f"{args.export}: no conversation there is answered by a company")
    base = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "stream.jsonl").open("w", encoding="utf-8") as handle:
        for record in stream.records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    config = stream_config(base, sorted(stream.customers))
    (args.out / "brandmon.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                                            encoding="utf-8")
    top = ", ".join(f"{brand} {n}" for brand, n in stream.customers.most_common(5))
    print(f"{len(stream.records)} posts: {sum(stream.customers.values())} from customers of {len(stream.customers)} "
          f"companies ({top}, ...), {len(stream.records) - sum(stream.customers.values())} answers; "
          f"left out: {stream.unanswered} posts in conversations no company answered, {stream.other_company} answers "
          f"by a second company in a thread, {len(stream.rejected)} rows the replay refused")
    for reason in stream.rejected:
        print(f"  refused {reason}")
    print(f"next: brandmon evaluate --stream {args.out / 'stream.jsonl'} -c {args.out / 'brandmon.yaml'}")


if __name__ == "__main__":
    main()
