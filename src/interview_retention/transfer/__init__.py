"""Moving data in: JSON Lines imports that keep each session's own timestamps."""
