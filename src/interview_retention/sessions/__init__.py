"""The interview-session aggregate: the session and its children."""
