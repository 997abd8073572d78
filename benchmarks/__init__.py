"""Reproducible throughput and memory measurements of pii-guard; see benchmarks/README.md."""
