"""Matrix multiplication (batched, broadcasting)."""
