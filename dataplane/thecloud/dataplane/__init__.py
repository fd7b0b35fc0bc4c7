"""Data-plane facades: Python configures, native engines execute."""
