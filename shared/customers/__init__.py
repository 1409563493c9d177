"""The customer domain both services write with: merge rules, the stored representation, size
limits, events and the customers table's shared SQL pieces."""
