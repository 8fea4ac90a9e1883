"""Alerts: routing rules, delivery channels (Slack first), the reply queue and the digest."""
