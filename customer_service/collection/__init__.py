"""The customer collection (API.md §7): listing, counting and searching many customers."""
