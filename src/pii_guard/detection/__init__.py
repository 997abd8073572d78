"""The detection stage: event-time ordering and dispatch of enriched events to detectors."""
