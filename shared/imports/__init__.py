"""The import domain both services share: batches (states, SQL, queueing and ending them), the
checkpointed chunk writes, and how batches are shown. customer_service serves the import API
on it; impex_worker imports on it; neither reaches into the other."""
