"""Search for incident responders: one Lucene-style query language over both event stores."""
