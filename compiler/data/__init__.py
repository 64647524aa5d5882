"""Vendored data files (Istio CRDs). See the SOURCES.md next to each file."""
