"""The weekly digest marketers read: figures from stored rows, complaint themes, charts, HTML and a Slack summary.

Import the parts from their modules (`alerts.digest.job`, `.build`, `.render`, `.slack`); this package
imports nothing heavy on its own, so the Slack notifier can load `alerts.digest.slack` cheaply.
"""
