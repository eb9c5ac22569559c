"""wastewatch."""
