"""The import API (API.md §4): batches, their content, state changes, progress and row errors.

customer_service takes the content and queues the batch; impex_worker does the importing.
"""
