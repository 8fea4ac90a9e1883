"""Tables for answering in the customer's language: responders' languages, saved-reply variants, translations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.schema import Base, ClassificationRow, IdType, MentionRow, QueueItemRow


class UserLanguageRow(Base):
    """One language a user answers customers in."""

    __tablename__ = "user_languages"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    #: ISO 639-1 code, lower case, as the language detector gives posts.
    language: Mapped[str] = mapped_column(String(16), primary_key=True)


class SavedReplyVariantRow(Base):
    """A saved reply's text in one language; keyed by the reply's name, so a reply from the config file has them too."""

    __tablename__ = "saved_reply_variants"
    __table_args__ = (UniqueConstraint("name", "language", name="uq_saved_reply_variants_name_language"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class TranslationRow(Base):
    """A post translated for display beside the original, kept so each post is sent to the server once per target."""

    __tablename__ = "translations"
    __table_args__ = (
        UniqueConstraint("mention_id", "target", name="uq_translations_mention_target"),
        Index("ix_translations_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"))
    #: The language translated from: the post's, or the one the server detected when the post's was unknown.
    source: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    #: The server that translated it (its base URL), so a change of server can be told apart.
    engine: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime]


def post_language() -> Any:
    """Return the SQL expression of a post's language: as classified, else as the network reported it."""
    return func.coalesce(ClassificationRow.language, MentionRow.language)


def in_language(language: str | None) -> tuple[Any, ...]:
    """Return the queue-item conditions for posts in `language` (none when `language` is None), for `.where(*...)`."""
    if language is None:
        return ()
    posts = (select(MentionRow.id).outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
             .where(post_language() == language.strip().lower()))
    return (QueueItemRow.mention_id.in_(posts),)


__all__ = ["SavedReplyVariantRow", "TranslationRow", "UserLanguageRow", "in_language", "post_language"]
