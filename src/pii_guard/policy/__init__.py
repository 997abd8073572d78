"""The organization's access policy: its YAML schema, and the detectors it compiles into."""
