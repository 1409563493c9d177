"""Order facts over HTTP (API.md §11); the domain itself is `shared.orders`."""
