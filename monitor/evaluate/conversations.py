"""An evaluation stream from a "Customer Support on Twitter" export, each company that answers there a brand.

    python -m monitor.evaluate.conversations EXPORT.csv OUT_DIR [-c BASE.yaml]
    brandmon evaluate --stream OUT_DIR/stream.jsonl -c OUT_DIR/brandmon.yaml

The export holds many companies' customers and answers. The company of a conversation is the account that answers
it; every customer post of the conversation becomes a post about that company (`addressed` where it answers the
company or @-mentions it), and the company's answers are kept as its own posts (`from_brand`), so cases, first
responses and Slack figures come out as a team working the real threads would see them. The posts carry no
labels: the replay measures what a team would get (Slack messages per post, levels, categories, queue items), not
precision, unless `--labels FILE.jsonl` gives some posts labels: lines with a `tweet_id` and any of the stream's
label fields (`models/checks/needs_reply.jsonl` labels 100 of the sample's customer tweets by reading them).
`BASE.yaml` (default: the example config) gives the classifier, routes and queue; its brands are replaced by the
companies, and every route is set to all of them.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.domain import Mention
from monitor.evaluate.labels import LABEL_FIELDS, StreamError, json_object
from monitor.evaluate.replay import read_through
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
    #: The number the export put for each company's handle in customers' text ("@115858" for AppleSupport).
    aliases: dict[str, str] = field(default_factory=dict)


def _mentions(export: Path) -> tuple[list[Mention], list[str]]:
    source = ReplaySource(name="conversations", brand="export",
                          options={"path": str(export), "brand_posts": True, "batch_size": 5000})
    found: list[Mention] = []
    rejected: list[str] = []
    for batch in read_through(source):
        found.extend(batch.mentions)
        rejected.extend(f"{r.location}: {r.reason}" for r in batch.rejected)
    return found, rejected


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


_NUMBERED = re.compile(r"(?<!\w)@(\d+)\b")


def _aliases(mentions: Sequence[Mention], brand_posts: set[str], roots: Mapping[str, str],
             company: Mapping[str, str]) -> dict[str, str]:
    """Return the number the export wrote for each company's handle in its customers' text.

    The export replaced many handles in the text with numbers, the companies' own among them ("@115858 when will
    the bug be fixed?", answered by AppleSupport). A company's number is the one its customers' opening posts name
    most: in at least a fifth of them, and in threads of that company for at least 80% of the posts naming it.
    """
    named: dict[str, Counter[str]] = {}
    openings: Counter[str] = Counter()
    for mention in mentions:
        brand = company.get(roots[mention.external_id])
        if brand is None or mention.external_id in brand_posts or roots[mention.external_id] != mention.external_id:
            continue
        openings[brand] += 1
        for number in set(_NUMBERED.findall(mention.raw["text"])):
            named.setdefault(number, Counter())[brand] += 1
    aliases: dict[str, str] = {}
    for brand, total in openings.items():
        numbers = [(counts[brand], n) for n, counts in named.items() if counts[brand]]
        if not numbers:
            continue
        hits, number = max(numbers)
        if hits >= max(3, total / 5) and hits >= 0.8 * sum(named[number].values()):
            aliases[brand] = number
    return aliases


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
    aliases = _aliases(mentions, brand_posts, roots, company)
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
            record["addressed"] = mention.parent_id in brand_posts or any(
                names_handle(mention.raw["text"], handle) for handle in (brand, aliases.get(brand)) if handle)
            customers[brand] += 1
        records.append(record)
    return ConversationStream(records, customers, unanswered, other_company, tuple(rejected), aliases)


def read_labels(path: Path) -> dict[str, dict[str, Any]]:
    """Return the label fields of each `tweet_id` in `path` (lines without one, written posts, are skipped).

    Raises StreamError naming the line for a line that is not a JSON object.
    """
    labels: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json_object(line, f"{path}:{number}")
        if record.get("tweet_id") is not None:
            labels[str(record["tweet_id"])] = {k: v for k, v in record.items() if k in LABEL_FIELDS}
    return labels


def label_records(records: Sequence[dict[str, Any]], labels: Mapping[str, Mapping[str, Any]]) -> int:
    """Add `labels` to the customer posts they name, in place; return how many posts got labels."""
    labelled = 0
    for record in records:
        if not record.get("from_brand") and record["id"] in labels:
            record.update(labels[record["id"]])
            labelled += 1
    return labelled


def stream_config(base: dict[str, Any], brands: Sequence[str],
                  aliases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return `base` with `brands` as its own brands (queried by @handle, and by the export's number for it where it
    has one) and every route set to all of them."""
    def query(brand: str) -> str:
        alias = (aliases or {}).get(brand)
        return f"@{brand} OR @{alias}" if alias else f"@{brand}"

    config = {**base, "brands": [{"name": b, "query": query(b), "handles": {"x": b}} for b in brands],
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
    parser.add_argument("--labels", type=Path, default=None,
                        help="JSON Lines of tweet_id and label fields to put on those posts "
                             "(e.g. models/checks/needs_reply.jsonl)")
    args = parser.parse_args(argv)
    stream = conversation_stream(args.export)
    if not stream.records:
        parser.error(f"{args.export}: no conversation there is answered by a company")
    if args.labels is not None:
        try:
            labels = read_labels(args.labels)
        except (OSError, StreamError) as exc:
            parser.error(str(exc))
        labelled = label_records(stream.records, labels)
        missing = len(labels) - labelled
        print(f"labels: {labelled} customer posts of {args.labels}"
              + (f"; {missing} of its tweet ids are no customer post of the stream" if missing else ""))
    base = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "stream.jsonl").open("w", encoding="utf-8") as handle:
        for record in stream.records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    config = stream_config(base, sorted(stream.customers), stream.aliases)
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
