"""On-call logic shared by the alert monitor and the CLI views: pure functions only."""
