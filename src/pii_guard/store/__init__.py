"""Event stores (SQLite embedded, Elasticsearch later) behind one interface, and the state database."""
