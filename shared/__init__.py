"""Code every service of the suite needs, written once."""
