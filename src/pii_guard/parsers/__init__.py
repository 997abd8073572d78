"""Log-format parsers, one module per format; see `registry` for the names."""
