"""The reply queue: items, replies, context and SLA."""
