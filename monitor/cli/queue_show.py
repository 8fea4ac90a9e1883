"""What `brandmon queue show ITEM` prints: the post, its case's conversation, the customer's earlier cases.

The conversation is the case's posts interleaved, oldest first (`monitor.queue.cases_context`): the customer's and
the brand's, each brand post saying who wrote it and whether it went through brandmon or was typed in the
network's app. Every untrusted string goes through `core.textsafe.for_terminal`, so no post can drive the terminal.
"""

from __future__ import annotations

from datetime import datetime

import click

from core.settings import Settings
from core.storage import Database
from core.textsafe import cut, for_terminal
from monitor.cli import language_cmds as lang
from monitor.queue.cases_context import ConversationPost, EarlierCase
from monitor.queue.context import CustomerContext, customer_context
from monitor.queue.items import QueueEntry, format_due, minutes_left

CASE_STATUS = {"open": "needs a response", "replied": "replied, waiting for the customer", "resolved": "resolved"}
#: Earlier posts, and replies outside this case, listed at most.
EARLIER = 5


def _t(text: object) -> str:
    return for_terminal(str(text))


def _line(text: str, limit: int = 100) -> str:
    """Return untrusted text on one terminal-safe line of at most `limit` characters."""
    return cut(_t(" ".join(text.split())), limit)


def _block(text: str, indent: str = "    ") -> str:
    """Return untrusted text indented, its lines kept, its control and bidi characters neutralised."""
    return indent + for_terminal(text, keep_newlines=True).replace("\n", "\n" + indent)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def conversation_line(post: ConversationPost) -> str:
    """Return the header line of one post of the conversation: when, whose, from where, how it stands."""
    marker = ">" if post.is_current else " "
    if post.from_brand:
        via = "through brandmon" if post.via == "brandmon" else "in the network's app"
        who = f"brand @{_t(post.author)} ({via}" + ("" if post.status == "posted" else f", {post.status}") + ")"
    else:
        who = f"customer @{_t(post.author)}" + (f" ({post.sentiment})" if post.sentiment else "")
    return f" {marker} {post.at:%Y-%m-%d %H:%M} {who}:"


def earlier_case_line(case: EarlierCase) -> str:
    """Return one of the customer's earlier cases on one line: when, its size, how it ended."""
    wait = (f", first response after {case.first_response_min:.0f} min"
            if case.first_response_min is not None else "")
    item = f" (item {case.queue_item_id})" if case.queue_item_id else ""
    return (f"  {case.opened_at:%Y-%m-%d} case #{case.case_id}{item}: {case.outcome}; "
            f"{_plural(case.posts, 'post', 'posts')}, {_plural(case.brand_replies, 'brand reply', 'brand replies')}"
            f"{wait}")


def print_case(context: CustomerContext, handle: str) -> None:
    """Print the post's case, its conversation interleaved, and the customer's earlier cases."""
    case = context.case
    if case is None:
        return
    status = CASE_STATUS.get(case.status, case.status) + (
        f" ({case.resolved_by.replace('_', ' ')})" if case.status == "resolved" and case.resolved_by else "")
    click.echo(f"case #{case.id}: {status}; {_plural(case.post_count, 'post', 'posts')} from the customer, "
               f"{_plural(case.brand_reply_count, 'brand reply', 'brand replies')}"
               + (f"; first response {case.first_response_at:%Y-%m-%d %H:%M} UTC" if case.first_response_at else ""))
    click.echo("conversation (oldest first, > is this item's post):")
    for post in context.conversation:
        click.echo(conversation_line(post))
        click.echo(_block(post.text))
    click.echo(f"earlier cases with @{_t(handle)}:" + ("" if context.earlier_cases else " none"))
    for earlier in context.earlier_cases:
        click.echo(earlier_case_line(earlier))
        if earlier.first_text:
            click.echo(f"    {_line(earlier.first_text)}")


def print_item(settings: Settings, db: Database, entry: QueueEntry, *, now: datetime) -> None:
    """Print one item: the post, its case's conversation and earlier cases (or its thread), saved replies."""
    mention, item = entry.mention, entry.item
    context = customer_context(db, mention.id)
    holder = item.claimed_by if item.lease_until and item.lease_until > now else None
    category = item.category or item.urgency_category  # a brand's own by its name; NULL: the urgency category
    click.echo(f"item {item.id}: {item.urgency_level} {category} {item.kind}, {item.status}"
               + (f", claimed by {_t(holder)}" if holder else "")
               + f"; language {_t(entry.scores.language or mention.language or 'unknown')}"
               + f"; first response {format_due(minutes_left(item.first_response_due, now))}")
    click.echo(f"{_t(mention.author_name)} @{_t(mention.author_handle)} on {mention.network} at "
               f"{mention.created_at:%Y-%m-%d %H:%M} UTC  {_t(mention.url)}"
               + (f"  (first name: {_t(context.first_name)})" if context.first_name else "")
               + (f"  (spoke to {_t(item.brand)})" if mention.addressed else ""))
    click.echo(_block(mention.text, "  "))
    click.echo(f"reply path: {mention.reply_path}" + (f" ({_t(mention.reply_path_reason)})"
                                                       if mention.reply_path_reason else ""))
    click.echo(f"sentiment over time: {context.sentiment_trend or '-'}  {context.sentiment_counts}")
    if context.case is not None:
        print_case(context, mention.author_handle)
    elif len(context.thread) > 1:
        click.echo("thread:")
        for p in context.thread:
            click.echo(f" {'>' if p.is_current else ' '} @{_t(p.author_handle)}: {_line(p.text)}")
    in_case = {(p.author, p.text) for p in context.conversation if p.from_brand}
    for r in [r for r in context.earlier_replies if (r.author, r.text) not in in_case][:EARLIER]:
        click.echo(f"earlier reply by {_t(r.author)} ({r.status}): {_line(r.text)}")
    for p in context.earlier_posts[:EARLIER]:
        click.echo(f"earlier post {p.created_at:%Y-%m-%d}: {_line(p.text)}")
    for saved in lang.replies_for(settings, db, entry):
        click.echo(f"saved reply {_t(saved.name)!r}{f' ({saved.language})' if saved.language else ''}: "
                   f"{cut(_t(saved.text), 100)}")


__all__ = ["conversation_line", "earlier_case_line", "print_case", "print_item"]
