"""PostgreSQL: the store (the only code that knows the driver), named queries, migrations, views."""
