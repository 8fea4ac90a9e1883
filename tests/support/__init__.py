"""What the tests share: one clock, one path to ../shared, settings, and helpers per area (as the package tree)."""
