"""Users: profiles, identifiers and attribute updates."""
