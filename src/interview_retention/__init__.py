"""interview-retention: the end of life of interview-practice sessions."""

__version__ = "0.1.0"
