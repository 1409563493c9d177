"""Bulk customer imports (API.md §4): batches queued by the import API or dropped on the queue,
streamed, validated with the shared customer schema, and written in large set-based chunks."""
