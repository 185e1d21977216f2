"""Rich terminal views for on call: `alerts tail`, `status`, `dlq show`."""
