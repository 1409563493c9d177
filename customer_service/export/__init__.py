"""The data-subject export (API.md §9): everything the suite holds about one customer."""
