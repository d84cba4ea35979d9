"""Publishes scheduled social posts of real-estate brands, exactly once."""
