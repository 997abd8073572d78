"""Sigma rules and correlation rules, parsed with pySigma and evaluated in stream on access events.

load.py      rule files → validated pySigma rules, pySigma's errors as ConfigErrors with file:line
fields.py    logsources (which events a rule sees) and field names (Sigma name → event field), configurable
values.py    one Sigma value (string with wildcards, regex, CIDR, number ...) → a matcher on an event's field
compile.py   a rule's condition → one generated Python predicate, and the literals an index can use
index.py     which rules an event can meet: by dataset and action, then by equal values and literals
correlate.py event_count, value_count, temporal and temporal_ordered on keyed, persisted event-time windows
detector.py  the Detector adapter the engine drives, and Sigma matches as pii-guard Matches
silence.py   silent sources: a source that writes nothing for longer than expected
lint.py      `rules lint`: unknown fields, regexes RE2 refuses, rules that can never match
"""
