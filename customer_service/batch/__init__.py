"""Batch writes (API.md §8): many customer writes in one request, each on its own."""
