"""Periodic access-log review reports: who accessed which category of personal data, how much, from where,
what was unusual; rendered as one self-contained HTML file plus CSV tables, and signed off by a reviewer."""
