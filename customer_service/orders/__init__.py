"""Order facts and the spend figures computed from them (API.md §11)."""
