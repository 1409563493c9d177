"""RabbitMQ consumers of the suite: `customer.deleted` de-identifies that customer's wishlists."""
