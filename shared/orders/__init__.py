"""The order facts domain both services write with (API.md §11): validating a fact, storing it
(upsert by orderRef, the latest occurredAt wins, a duplicate eventId changes nothing), attaching
waiting facts to a customer who appears, and the spend fields computed from them.
customer_service takes facts over HTTP and renders the fields; impex_worker takes them off the
queue and attaches them per import chunk; neither reaches into the other."""
