"""PyFlink jobs (and, later, the Faust alert monitor)."""
