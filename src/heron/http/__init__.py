"""The HTTP edge: Braze-shaped errors, body limits, API-key authentication."""
