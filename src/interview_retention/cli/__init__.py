"""The `interview-retention` command-line tool."""
