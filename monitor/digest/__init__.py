"""The weekly digest marketers read: figures from stored rows, complaint themes, charts, HTML and a Slack summary.

Import the parts from their modules (`monitor.digest.job`, `.build`, `.render`, `.slack`); this package
imports nothing heavy on its own, so the Slack notifier can load `alerts.slack_digest` cheaply.
"""
