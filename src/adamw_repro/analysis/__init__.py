"""The analysis layer: tables, statistics, decoupling, claims, figures and the report.

Reads results and never imports torch."""
