"""Dataset building: chat and code rows, conversions, splits."""
