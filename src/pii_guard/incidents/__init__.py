"""Incidents: matches grouped into tickets with a lifecycle, exposure and a notification clock."""
