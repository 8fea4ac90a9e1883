"""The bottom layer everything shares: domain, settings, text safety, the query language, storage, the outbox.

It imports no other brandmon package.
"""
